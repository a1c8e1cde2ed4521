// Simulation: the same drivers over emulated chips, all sensing one seeded vessel model on the injected clock, and
// faults injected into those chips to see what the drivers and the node do about them. The emulated buses and
// outputs are here; each enabled component's emulator joins them (its descriptor's `simulate`, registry.ts).
import type { SimulatedFault, SimulatedFaultRequest } from '@bioreactor/api';
import type { Clock } from './clock.js';
import type { ComponentDescriptor, FaultTarget, SimulationContext } from './components/component.js';
import { FaultRequestError } from './components/sim-kit.js';
import { EmulatedI2cBus } from './emulated/i2c-chips.js';
import { EmulatedOneWire } from './emulated/one-wire.js';
import { EmulatedGpio, EmulatedNeoPixelSpi, EmulatedPwm, type EmulatedTic } from './emulated/outputs.js';
import type { HardwareFile } from './hardware-file.js';
import { pwmChannelFor } from './pins.js';
import { createRandom } from './random.js';
import { REGISTRY } from './registry.js';
import { type TransportFactory, TransportUnavailable } from './transports/types.js';
import { type VesselInputs, VesselModel } from './vessel-model.js';

export { isOutflowPump } from './components/pumps.js';
export { FaultRequestError } from './components/sim-kit.js';

export interface Simulation {
  transports: TransportFactory;
  model: VesselModel;
  bus: EmulatedI2cBus;
  oneWire: EmulatedOneWire;
  tics: Map<string, EmulatedTic>;
  pwm: Map<string, EmulatedPwm>;
  gpio: Map<number, EmulatedGpio>;
  ring: EmulatedNeoPixelSpi;
  faults: SimulationFaults;
}

/** The faults injected into the emulated chips: put on, listed, cleared. */
export class SimulationFaults {
  private active: SimulatedFault[] = [];

  constructor(
    private readonly clock: Clock,
    /** Each simulated component's faults, in registry order. */
    private readonly targets: Map<string, FaultTarget>,
  ) {}

  list(): SimulatedFault[] {
    return this.active.map((f) => ({ ...f }));
  }

  /** Puts a fault on; the same fault on the same target again only refreshes it. */
  inject(request: SimulatedFaultRequest): SimulatedFault {
    const { component, fault } = request;
    const target = this.targets.get(component);
    if (!target)
      throw new FaultRequestError(
        `No faults for component "${component}": use one of ${[...this.targets.keys()].join(', ')}`,
      );
    if (!target.faults.includes(fault))
      throw new FaultRequestError(`${component} has no fault "${fault}": use one of ${target.faults.join(', ')}`);
    const entry: SimulatedFault = { component, fault, since: new Date(this.clock.now()).toISOString() };
    const where = target.inject(request);
    if (where.pump_name !== undefined) entry.pump_name = where.pump_name;
    if (where.sensor !== undefined) entry.sensor = where.sensor;
    const same = (f: SimulatedFault) =>
      f.component === entry.component && f.pump_name === entry.pump_name && f.sensor === entry.sensor;
    // One fault per target: a new one on the same thermometer or pump replaces the old.
    this.active = [...this.active.filter((f) => !same(f)), entry];
    return { ...entry };
  }

  /** Clears every fault; answers how many there were. */
  clear(): number {
    const count = this.active.length;
    this.active = [];
    for (const target of this.targets.values()) target.clear();
    return count;
  }
}

export function createSimulation(file: HardwareFile, clock: Clock, seed: number): Simulation {
  const pwm = new Map<string, EmulatedPwm>();
  const gpio = new Map<number, EmulatedGpio>();
  const tics = new Map<string, EmulatedTic>();
  const thermometers = new Map<string, () => number>();
  // Every input reads 0 until an actuator's emulator says what it drives.
  const inputs: VesselInputs = {
    peltier: () => 0,
    stirrer: () => 0,
    led: () => 0,
    ringLight: () => 0,
    flows: () => ({ inMlPerS: 0, outMlPerS: 0 }),
    gas: () => ({ co2MlPerMin: 0, n2MlPerMin: 0, o2MlPerMin: 0 }),
  };
  const model = new VesselModel(inputs, createRandom(seed), clock.now());
  const bus = new EmulatedI2cBus();
  const oneWire = new EmulatedOneWire(clock, thermometers);
  const shared = { ring: new EmulatedNeoPixelSpi(1) };
  const sim: SimulationContext = {
    config: undefined,
    clock,
    model,
    inputs,
    bus,
    oneWire,
    thermometers,
    tics,
    pwm,
    gpio,
    get ring() {
      return shared.ring;
    },
    set ring(ring) {
      shared.ring = ring;
    },
    pwmFor(wiring) {
      const where = pwmChannelFor(wiring);
      return 'error' in where ? undefined : pwm.get(`${where.chip}:${where.channel}`);
    },
    at<T>(read: () => T): T {
      model.advanceTo(clock.now());
      return read();
    },
  };
  const enabled = file.init_components as Record<string, boolean>;
  const targets = new Map<string, FaultTarget>();
  for (const component of REGISTRY as readonly ComponentDescriptor[]) {
    // A part that is not enabled is not there: no chip answers at its address, no thermometer is on the bus.
    if (!enabled[component.name]) continue;
    const config = Object.fromEntries(
      Object.keys(component.config).map((k) => [k, (file as Record<string, unknown>)[k]]),
    );
    // The component's own keys over the shared world (the ring is shared through its accessors).
    const target = component.simulate(Object.create(sim, { config: { value: config } }));
    if (target) targets.set(component.name, target);
  }

  // Every output change first brings the model up to now, so the old input applied until this instant.
  const settleBefore =
    <A extends unknown[], R>(fn: (...args: A) => R) =>
    (...args: A) => {
      model.advanceTo(clock.now());
      return fn(...args);
    };
  const transports: TransportFactory = {
    i2c: async () => bus,
    oneWire: async () => oneWire,
    pwm: async (chip, channel) => {
      const key = `${chip}:${channel}`;
      const channelEmu = pwm.get(key) ?? new EmulatedPwm();
      pwm.set(key, channelEmu);
      return {
        configure: settleBefore((hz: number) => channelEmu.configure(hz)),
        setDuty: settleBefore((f: number) => channelEmu.setDuty(f)),
        close: settleBefore(() => channelEmu.close()),
      };
    },
    gpio: async (pin, idleHigh) => {
      const line = gpio.get(pin) ?? new EmulatedGpio(idleHigh);
      gpio.set(pin, line);
      return { set: settleBefore((h: boolean) => line.set(h)), close: settleBefore(() => line.close()) };
    },
    spi: async () => ({
      write: settleBefore((bytes: Uint8Array, hz: number) => shared.ring.write(bytes, hz)),
      close: () => shared.ring.close(),
    }),
    usb: async (match) => {
      // One emulated Tic per configured serial (the pumps' emulator); another serial is a device not plugged in.
      const tic = tics.get(match.serialNumber);
      if (!tic) throw new TransportUnavailable(`no ${match.family} with serial ${match.serialNumber} on USB`);
      return {
        vendorOut: settleBefore((request: number, value: number, index: number) =>
          tic.vendorOut(request, value, index),
        ),
        vendorIn: (request: number, value: number, index: number, length: number) =>
          tic.vendorIn(request, value, index, length),
        close: () => tic.close(),
      };
    },
  };
  return {
    transports,
    model,
    bus,
    oneWire,
    tics,
    pwm,
    gpio,
    get ring() {
      return shared.ring;
    },
    faults: new SimulationFaults(clock, targets),
  };
}
