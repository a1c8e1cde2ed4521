// Simulation: the same drivers over emulated chips, all sensing one seeded vessel model on the injected clock, and
// faults injected into those chips to see what the drivers and the node do about them.
import {
  FAULT_COMPONENTS,
  type FaultComponent,
  SIMULATED_FAULTS,
  type SimulatedFault,
  type SimulatedFaultRequest,
} from '@bioreactor/api';
import type { Clock } from './clock.js';
import { Ads1115Chip, Ads7830Chip, EmulatedI2cBus, EzoCo2Chip, K33Chip } from './emulated/i2c-chips.js';
import { EmulatedOneWire } from './emulated/one-wire.js';
import { EmulatedGpio, EmulatedNeoPixelSpi, EmulatedPwm, EmulatedTic } from './emulated/outputs.js';
import { type HardwareFile, i2cAddress, pumpCalibration } from './hardware-file.js';
import { type PwmWiring, pwmChannelFor } from './pins.js';
import { createRandom } from './random.js';
import { type TransportFactory, TransportUnavailable } from './transports/types.js';
import { VesselModel } from './vessel-model.js';

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

/** A fault request the simulation cannot carry out; the message says what would be valid. */
export class FaultRequestError extends Error {}

/** The faults injected into the emulated chips: put on, listed, cleared. */
export class SimulationFaults {
  private active: SimulatedFault[] = [];

  constructor(
    private readonly file: HardwareFile,
    private readonly clock: Clock,
    private readonly chips: {
      oneWire: EmulatedOneWire;
      bus: EmulatedI2cBus;
      tics: Map<string, EmulatedTic>;
      i2cAddresses: Record<'co2_sensor' | 'optical_density' | 'eyespy_adc', number[]>;
    },
  ) {}

  list(): SimulatedFault[] {
    return this.active.map((f) => ({ ...f }));
  }

  /** Puts a fault on; the same fault on the same target again only refreshes it. */
  inject(request: SimulatedFaultRequest): SimulatedFault {
    const { component, fault } = request;
    if (!(FAULT_COMPONENTS as readonly string[]).includes(component))
      throw new FaultRequestError(`No faults for "${component}": use one of ${FAULT_COMPONENTS.join(', ')}`);
    const valid: readonly string[] = SIMULATED_FAULTS[component as FaultComponent];
    if (!valid.includes(fault))
      throw new FaultRequestError(`${component} has no fault "${fault}": use one of ${valid.join(', ')}`);
    const entry: SimulatedFault = { component, fault, since: new Date(this.clock.now()).toISOString() };
    switch (component) {
      case 'temp_sensor': {
        if (request.pump_name !== undefined) throw new FaultRequestError('pump_name goes with pumps only');
        const sensor = request.sensor ?? null;
        if (sensor !== null && !this.chips.oneWire.ids.includes(sensor))
          throw new FaultRequestError(
            `No thermometer "${sensor}": use one of ${this.chips.oneWire.ids.join(', ')}, or omit sensor for all`,
          );
        if (sensor !== null) entry.sensor = sensor;
        this.chips.oneWire.setFault(sensor, fault as Parameters<EmulatedOneWire['setFault']>[1]);
        break;
      }
      case 'pumps': {
        const names = Object.keys(this.file.pumps);
        const name = request.pump_name;
        if (name === undefined || !names.includes(name))
          throw new FaultRequestError(`A pump stall needs pump_name, one of ${names.join(', ')}`);
        const tic = this.chips.tics.get(this.file.pumps[name]?.serial ?? '');
        if (!tic) throw new FaultRequestError(`Pump ${name} was not opened, so it cannot stall`);
        tic.stall(true);
        entry.pump_name = name;
        break;
      }
      default: {
        if (request.pump_name !== undefined || request.sensor !== undefined)
          throw new FaultRequestError(`${component} takes neither pump_name nor sensor`);
        const chip = component as keyof typeof this.chips.i2cAddresses;
        for (const address of this.chips.i2cAddresses[chip]) this.chips.bus.failing.add(address);
      }
    }
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
    this.chips.oneWire.clearFault(null);
    this.chips.bus.failing.clear();
    for (const tic of this.chips.tics.values()) if (tic.stalled) tic.stall(false);
    return count;
  }
}

/** Pumps whose name says they take liquid out; the rest feed the vessel. */
export const isOutflowPump = (name: string) => /out|waste|effluent|harvest/i.test(name);

export function createSimulation(file: HardwareFile, clock: Clock, seed: number): Simulation {
  const pwm = new Map<string, EmulatedPwm>();
  const gpio = new Map<number, EmulatedGpio>();
  const tics = new Map<string, EmulatedTic>();
  const ring = new EmulatedNeoPixelSpi(file.ring_light.pixel_count);
  const pwmFor = (wiring: PwmWiring) => {
    const where = pwmChannelFor(wiring);
    return 'error' in where ? undefined : pwm.get(`${where.chip}:${where.channel}`);
  };
  const model: VesselModel = new VesselModel(
    {
      peltier: () => {
        const duty = pwmFor(file.peltier_driver)?.fraction ?? 0;
        const dirHigh = gpio.get(file.peltier_driver.dir_pin)?.high ?? false;
        const heating = dirHigh === file.peltier_driver.direction_inverted;
        return heating ? duty : -duty;
      },
      stirrer: () => pwmFor(file.stirrer)?.fraction ?? 0,
      led: () => pwmFor(file.led)?.fraction ?? 0,
      ringLight: () => ring.pixels.reduce((sum, [r, g, b]) => sum + (r + g + b) / 765, 0) / ring.pixelCount,
      flows: () => {
        let inMlPerS = 0;
        let outMlPerS = 0;
        for (const [name, pump] of Object.entries(file.pumps)) {
          const tic = tics.get(pump.serial);
          if (!tic) continue;
          const sign = pump.direction === 'reverse' ? -1 : 1;
          const mlPerS = (sign * tic.velocity) / pumpCalibration(pump).stepsPerMl;
          if (isOutflowPump(name)) outMlPerS += mlPerS;
          else inMlPerS += mlPerS;
        }
        return { inMlPerS, outMlPerS };
      },
    },
    createRandom(seed),
    clock.now(),
  );
  const at = <T>(read: () => T) => {
    model.advanceTo(clock.now());
    return read();
  };
  // Every output change first brings the model up to now, so the old input applied until this instant.
  const settleBefore =
    <A extends unknown[], R>(fn: (...args: A) => R) =>
    (...args: A) => {
      model.advanceTo(clock.now());
      return fn(...args);
    };

  const bus = new EmulatedI2cBus();
  const co2Addr = i2cAddress(file.co2_sensor_i2c_address, file.co2_sensor_type === 'sensair_k33' ? 0x68 : 0x69);
  bus.attach(
    co2Addr,
    file.co2_sensor_type === 'sensair_k33'
      ? new K33Chip(clock, () => at(() => model.co2()), file.k33_ppm_per_count)
      : new EzoCo2Chip(clock, () => at(() => model.co2())),
  );
  const odNames = Object.entries(file.od_adc.channels);
  const odVolts = (input: number) => {
    const name = odNames.find(([, pin]) => Number(pin.slice(1)) === input)?.[0];
    return name === undefined ? 0.002 : at(() => model.photodiode(name));
  };
  bus.attach(
    i2cAddress(file.od_adc.i2c_address, 0x48),
    file.od_adc.type === 'ads7830' ? new Ads7830Chip(file.od_adc.vref, odVolts) : new Ads1115Chip(clock, odVolts),
  );
  Object.values(file.eyespy_adc.boards).forEach((board, index) => {
    bus.attach(
      i2cAddress(board.i2c_address, 0x49),
      new Ads1115Chip(clock, () => at(() => model.eyespy(index)), board.chip === 'ads1114' ? 1 : 4),
    );
  });

  const thermometers = new Map<string, () => number>();
  const ids = file.temp_sensor.order.length > 0 ? file.temp_sensor.order : [];
  for (let i = 0; i < file.temp_sensor.simulated_count; i++) {
    const id = ids[i] ?? `28-${(0x0316a2790000 + i * 0x1111).toString(16).padStart(12, '0')}`;
    thermometers.set(id, () => at(() => model.thermometer(i)));
  }
  const oneWire = new EmulatedOneWire(clock, thermometers);

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
    gpio: async (pin) => {
      const line = gpio.get(pin) ?? new EmulatedGpio();
      gpio.set(pin, line);
      return { set: settleBefore((h: boolean) => line.set(h)), close: settleBefore(() => line.close()) };
    },
    spi: async () => ({
      write: settleBefore((bytes: Uint8Array, hz: number) => ring.write(bytes, hz)),
      close: () => ring.close(),
    }),
    usb: async (match) => {
      // One emulated Tic per configured serial; another serial is a device that is not plugged in.
      if (!Object.values(file.pumps).some((p) => p.serial === match.serialNumber))
        throw new TransportUnavailable(`no ${match.family} with serial ${match.serialNumber} on USB`);
      const tic = tics.get(match.serialNumber) ?? new EmulatedTic(clock);
      tics.set(match.serialNumber, tic);
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
  const faults = new SimulationFaults(file, clock, {
    oneWire,
    bus,
    tics,
    i2cAddresses: {
      co2_sensor: [co2Addr],
      optical_density: [i2cAddress(file.od_adc.i2c_address, 0x48)],
      eyespy_adc: Object.values(file.eyespy_adc.boards).map((b) => i2cAddress(b.i2c_address, 0x49)),
    },
  });
  return { transports, model, bus, oneWire, tics, pwm, gpio, ring, faults };
}
