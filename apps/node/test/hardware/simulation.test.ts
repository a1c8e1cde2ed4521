// The simulated vessel through the real drivers and the hardware API: closed loops settle, runs replay under a seed,
// and time runs far faster than the wall clock.
import { COMPONENT_NAMES } from '@bioreactor/api';
import { afterEach, describe, expect, it } from 'vitest';
import type { ManualClock } from '../../src/hardware/clock.js';
import type { HardwareController } from '../../src/hardware/hardware.js';
import type { Hardware } from '../../src/hardware/index.js';
import { simulatedHardware, whileTimePasses } from './support.js';

type Hw = Hardware & HardwareController;
const started: Hw[] = [];
afterEach(async () => {
  for (const hw of started.splice(0)) await hw.stop();
});

async function start(file: Record<string, unknown>, seed = 7): Promise<{ hardware: Hw; clock: ManualClock }> {
  const sim = await simulatedHardware({ file, seed, dataDir: null });
  // Probing a chip takes chip time (the EZO-CO2 answers "i" after 300 ms), so time moves while it starts.
  await whileTimePasses(sim.clock, sim.hardware.start(), 50);
  started.push(sim.hardware);
  // Heating needs a temperature: these loops start once every sensor has its first sample.
  await whileTimePasses(sim.clock, sim.hardware.waitForFirstSamples(), 50);
  return sim;
}

const only = (...names: string[]) => ({
  init_components: Object.fromEntries(COMPONENT_NAMES.map((n) => [n, names.includes(n)])),
});

/** A textbook PID on the peltier: output -100..100 %, positive heats, with anti-windup. */
function peltierPid(setpoint: number, kp = 25, ki = 0.05, kd = 0) {
  let integral = 0;
  let last: number | null = null;
  return (temperature: number, dtS: number) => {
    const error = setpoint - temperature;
    const derivative = last === null ? 0 : (last - temperature) / dtS;
    last = temperature;
    const unclamped = kp * error + ki * (integral + error * dtS) + kd * derivative;
    const output = Math.max(-100, Math.min(100, unclamped));
    if (output === unclamped) integral += error * dtS;
    return output;
  };
}

async function drivePeltier(hw: Hw, output: number): Promise<void> {
  await hw.control(
    'peltier_driver',
    { duty_cycle: Math.round(Math.abs(output) * 10) / 10, direction: output >= 0 ? 'heat' : 'cool' },
    'test',
  );
}

describe('simulation: closed loops', () => {
  it('a PID loop on the peltier settles the vessel at 37 °C', async () => {
    const { hardware, clock } = await start(only('temp_sensor', 'peltier_driver', 'stirrer'));
    const pid = peltierPid(37);
    const dt = 5;
    const trace: number[] = [];
    const wallStart = performance.now();
    for (let t = 0; t < 3 * 3600; t += dt) {
      await clock.advance(dt * 1000);
      const temperature = hardware.componentState('temp_sensor')?.temperature;
      if (typeof temperature !== 'number') continue;
      trace.push(temperature);
      await drivePeltier(hardware, pid(temperature, dt));
    }
    const wallSeconds = (performance.now() - wallStart) / 1000;
    const lastHalfHour = trace.slice(-360);
    const mean = lastHalfHour.reduce((a, b) => a + b, 0) / lastHalfHour.length;
    expect(trace[0]).toBeLessThan(25);
    expect(Math.abs(mean - 37)).toBeLessThan(0.25);
    expect(Math.max(...lastHalfHour.map((v) => Math.abs(v - 37)))).toBeLessThan(0.5);
    // Three simulated hours must take far less than three real ones.
    expect(wallSeconds).toBeLessThan((3 * 3600) / 100);
  });

  it('a turbidostat holds the 135° photodiode at its target with the pumps', async () => {
    const { hardware, clock } = await start({
      ...only('temp_sensor', 'peltier_driver', 'optical_density', 'pumps', 'stirrer'),
      sample_intervals_s: { optical_density: 10, temp_sensor: 5 },
    });
    const model = hardware.simulation?.model;
    if (!model) throw new Error('simulation has no model');
    model.temperatureC = 37;
    model.od = 0.3;
    const target = 1.0;
    const pid = peltierPid(37);
    const dt = 10;
    const signal: number[] = [];
    let pumping = false;
    for (let t = 0; t < 5 * 3600; t += dt) {
      await clock.advance(dt * 1000);
      const temperature = hardware.componentState('temp_sensor')?.temperature;
      if (typeof temperature === 'number') await drivePeltier(hardware, pid(temperature, dt));
      const od = hardware.componentState('optical_density');
      const volts = od?.voltages[od.channels.indexOf('135')];
      if (typeof volts !== 'number') continue;
      signal.push(volts);
      const want = volts > target;
      if (want !== pumping) {
        pumping = want;
        await hardware.control('pumps', { pump_name: 'inflow', velocity: want ? 0.02 : 0 }, 'test');
        await hardware.control('pumps', { pump_name: 'outflow', velocity: want ? 0.04 : 0 }, 'test');
      }
    }
    const lastTwoHours = signal.slice(-720);
    expect(signal.length).toBeGreaterThan(1700);
    const mean = lastTwoHours.reduce((a, b) => a + b, 0) / lastTwoHours.length;
    expect(Math.min(...signal.slice(0, 10))).toBeLessThan(target - 0.2);
    expect(Math.abs(mean - target)).toBeLessThan(0.03);
    expect(Math.max(...lastTwoHours.map((v) => Math.abs(v - target)))).toBeLessThan(0.08);
    const pumps = hardware.componentState('pumps')?.pumps ?? [];
    const inflow = pumps.find((p) => p.pump_name === 'inflow')?.total_volume_ml ?? 0;
    // The culture kept growing, so fresh medium had to keep coming in.
    expect(inflow).toBeGreaterThan(10);
    expect(model.volumeMl).toBeGreaterThan(29);
    expect(model.volumeMl).toBeLessThan(31);
  });
});

describe('simulation: determinism and physics', () => {
  async function trace(seed: number): Promise<unknown[]> {
    const { hardware, clock } = await start({}, seed);
    await hardware.control('peltier_driver', { duty_cycle: 60, direction: 'heat' }, 'test');
    const out: unknown[] = [];
    for (let i = 0; i < 20; i++) {
      await clock.advance(3000);
      const s = hardware.allStates().components;
      out.push([
        s.temp_sensor?.temperatures,
        s.co2_sensor?.co2_ppm,
        s.optical_density?.voltages,
        s.eyespy_adc?.voltages,
      ]);
    }
    return out;
  }

  it('replays exactly under the same seed and differs under another', async () => {
    const a = await trace(11);
    const b = await trace(11);
    const c = await trace(12);
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
  });

  it('heats with heat, cools with cool, and drifts back to ambient when off', async () => {
    const { hardware, clock } = await start(only('temp_sensor', 'peltier_driver'));
    const temp = () => hardware.componentState('temp_sensor')?.temperature ?? Number.NaN;
    await clock.advance(2000);
    const ambient = temp();
    await hardware.control('peltier_driver', { duty_cycle: 100, direction: 'heat' }, 'test');
    await clock.advance(600_000);
    const heated = temp();
    expect(heated).toBeGreaterThan(ambient + 5);
    await hardware.control('peltier_driver', { duty_cycle: 100, direction: 'cool' }, 'test');
    await clock.advance(1_800_000);
    expect(temp()).toBeLessThan(ambient - 2);
    await hardware.control('peltier_driver', { duty_cycle: 0, direction: 'cool' }, 'test');
    await clock.advance(3 * 3_600_000);
    expect(Math.abs(temp() - ambient)).toBeLessThan(1);
  });

  it('grows faster near 37 °C than at 22 °C, and CO2 follows growth', async () => {
    const slow = { sample_intervals_s: { optical_density: 60, co2_sensor: 60 } };
    const warm = await start({ ...only('optical_density', 'co2_sensor'), ...slow }, 3);
    const cold = await start({ ...only('optical_density', 'co2_sensor'), ...slow }, 3);
    if (!warm.hardware.simulation || !cold.hardware.simulation) throw new Error('no model');
    // The warm vessel stands in a 37 °C incubator; the cold one in the 22 °C room.
    warm.hardware.simulation.model.params.ambientC = 37;
    warm.hardware.simulation.model.temperatureC = 37;
    await warm.clock.advance(4 * 3_600_000);
    await cold.clock.advance(4 * 3_600_000);
    expect(warm.hardware.simulation.model.od).toBeGreaterThan(cold.hardware.simulation.model.od * 2);
    const co2 = (hw: Hw) => hw.componentState('co2_sensor')?.co2_ppm ?? 0;
    expect(co2(warm.hardware)).toBeGreaterThan(co2(cold.hardware) + 100);
  });

  it('serialises the shared I2C bus: no two chip transactions overlap', async () => {
    const { hardware, clock } = await start({});
    await clock.advance(30_000);
    const bus = hardware.simulation?.bus;
    expect(bus?.transactions).toBeGreaterThan(100);
    expect(bus?.maxInFlight).toBe(1);
  });
});
