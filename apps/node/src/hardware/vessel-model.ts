// A physical model of the culture vessel that the emulated chips sense: heat balance with the peltier and ambient,
// temperature-dependent logistic growth diluted by the pumps, the headspace's CO2 and O2 (growth makes CO2 and uses
// O2, the gas relays let CO2 or N2 in, air exchange pulls both back to ambient), and light on the photodiodes.
import type { Random } from './random.js';

export interface VesselInputs {
  /** Peltier drive, -1 (full cooling) .. 1 (full heating). */
  peltier(): number;
  /** Stirrer duty 0..1. */
  stirrer(): number;
  /** LED duty 0..1. */
  led(): number;
  /** Mean ring-light brightness 0..1. */
  ringLight(): number;
  /** mL/s into the vessel (inflow pumps) and out of it (outflow pumps), after direction. */
  flows(): { inMlPerS: number; outMlPerS: number };
  /** mL/min of each pure gas the open gas relays let into the headspace. */
  gas(): { co2MlPerMin: number; n2MlPerMin: number; o2MlPerMin: number };
}

export interface VesselParameters {
  ambientC: number;
  /** Heat capacity of vessel and culture, J/K. */
  heatCapacity: number;
  /** Heat loss to ambient, W/K. */
  lossWPerK: number;
  heatW: number;
  coolW: number;
  startTemperatureC: number;
  startOd: number;
  carryingOd: number;
  /** Specific growth rate at the optimum temperature, 1/h. */
  muOptPerH: number;
  cardinal: { min: number; opt: number; max: number };
  volumeMl: number;
  /** The effluent needle: outflow pumps only remove liquid above this volume. */
  needleMl: number;
  maxVolumeMl: number;
  ambientCo2: number;
  co2PerOdGrowth: number;
  /** The air's O2, % (dry air). */
  ambientO2: number;
  /** Headspace O2 used per OD of growth, percentage points (a respiratory quotient of about 1 beside CO2). */
  o2PerOdGrowth: number;
  /** The headspace a relay's gas mixes into, mL. */
  headspaceMl: number;
}

export const DEFAULT_VESSEL: VesselParameters = {
  ambientC: 22,
  heatCapacity: 200,
  lossWPerK: 0.2,
  heatW: 6,
  coolW: 3,
  startTemperatureC: 22,
  startOd: 0.05,
  carryingOd: 2.5,
  muOptPerH: 0.9,
  cardinal: { min: 5, opt: 37, max: 45 },
  volumeMl: 30,
  needleMl: 30,
  maxVolumeMl: 45,
  ambientCo2: 420,
  co2PerOdGrowth: 90_000,
  ambientO2: 20.95,
  o2PerOdGrowth: 9,
  headspaceMl: 20,
};

/** Cardinal temperature model with inflection (Rosso 1993): 0 outside (min, max), 1 at opt. */
export function growthFactor(t: number, c: VesselParameters['cardinal']): number {
  if (t <= c.min || t >= c.max) return 0;
  const num = (t - c.max) * (t - c.min) ** 2;
  const den = (c.opt - c.min) * ((c.opt - c.min) * (t - c.opt) - (c.opt - c.max) * (c.opt + c.min - 2 * t));
  return Math.max(0, num / den);
}

const MAX_STEP_S = 1;

export class VesselModel {
  temperatureC: number;
  od: number;
  volumeMl: number;
  co2Ppm: number;
  o2Percent: number;
  /** Milliseconds of model time. */
  private time: number;
  overflowMl = 0;
  /** This vessel's own copy: a test may change the room (ambientC) without touching other vessels. */
  readonly params: VesselParameters;

  constructor(
    private readonly inputs: VesselInputs,
    readonly random: Random,
    startMs: number,
    params: VesselParameters = DEFAULT_VESSEL,
  ) {
    this.params = { ...params, cardinal: { ...params.cardinal } };
    this.temperatureC = params.startTemperatureC;
    this.od = params.startOd;
    this.volumeMl = params.volumeMl;
    this.co2Ppm = params.ambientCo2;
    this.o2Percent = params.ambientO2;
    this.time = startMs;
  }

  get now(): number {
    return this.time;
  }

  /** Integrates up to `ms` in steps of at most a second, with the inputs as they are now. */
  advanceTo(ms: number): void {
    let remaining = (ms - this.time) / 1000;
    if (remaining <= 0) return;
    const p = this.params;
    const drive = this.inputs.peltier();
    const stir = this.inputs.stirrer();
    const { inMlPerS, outMlPerS } = this.inputs.flows();
    const gas = this.inputs.gas();
    const gasIn = gas.co2MlPerMin + gas.n2MlPerMin + gas.o2MlPerMin;
    while (remaining > 0) {
      const dt = Math.min(MAX_STEP_S, remaining);
      remaining -= dt;
      const power = (drive >= 0 ? drive * p.heatW : drive * p.coolW) + 0.2 * stir;
      this.temperatureC += (dt * (power - p.lossWPerK * (this.temperatureC - p.ambientC))) / p.heatCapacity;
      const mu = (p.muOptPerH / 3600) * growthFactor(this.temperatureC, p.cardinal);
      const growth = mu * this.od * (1 - this.od / p.carryingOd);
      this.od += growth * dt;
      const added = Math.max(0, inMlPerS) * dt;
      if (added > 0) this.od *= this.volumeMl / (this.volumeMl + added);
      this.volumeMl += added - Math.max(0, -inMlPerS) * dt;
      const removable = Math.max(0, this.volumeMl - p.needleMl);
      this.volumeMl -= Math.min(removable, Math.max(0, outMlPerS) * dt);
      if (outMlPerS < 0) this.volumeMl += -outMlPerS * dt;
      if (this.volumeMl > p.maxVolumeMl) {
        this.overflowMl += this.volumeMl - p.maxVolumeMl;
        this.volumeMl = p.maxVolumeMl;
      }
      this.volumeMl = Math.max(1, this.volumeMl);
      const exchange = 0.01 + 0.03 * stir;
      this.co2Ppm += dt * (p.co2PerOdGrowth * growth - exchange * (this.co2Ppm - p.ambientCo2));
      this.o2Percent += dt * (-p.o2PerOdGrowth * growth - exchange * (this.o2Percent - p.ambientO2));
      // A pure gas flushing the headspace: each mL replaces a mL of the mixture.
      if (gasIn > 0) {
        const swept = Math.min(1, (gasIn / 60) * (dt / p.headspaceMl));
        this.co2Ppm += swept * ((gas.co2MlPerMin / gasIn) * 1e6 - this.co2Ppm);
        this.o2Percent += swept * ((gas.o2MlPerMin / gasIn) * 100 - this.o2Percent);
      }
      this.o2Percent = Math.min(100, Math.max(0, this.o2Percent));
    }
    this.time = ms;
  }

  /** Photodiode voltage of a channel named as in the hardware file: "Ref" sees the source, others the scatter. */
  photodiode(name: string): number {
    const stray = 0.3 * this.inputs.ringLight() + 0.05 * this.inputs.led();
    if (/ref/i.test(name)) return 1.2 + stray * 0.2 + this.random.gaussian(0.002);
    const angle = Number.parseInt(name, 10);
    const gain = angle === 135 ? 2.2 : angle === 90 ? 1.8 : 2.0;
    const signal = 0.15 + gain * (1 - Math.exp(-this.od / 1.2));
    const stirNoise = 0.004 * (1 - this.inputs.stirrer());
    return signal + stray + this.random.gaussian(0.004 + stirNoise);
  }

  eyespy(index: number): number {
    return 0.9 + (1.4 + 0.05 * index) * (1 - Math.exp(-this.od / 1.0)) + this.random.gaussian(0.008);
  }

  /** A thermometer in the room beside the vessel. */
  ambient(): number {
    return this.params.ambientC + this.random.gaussian(0.05);
  }

  thermometer(index: number): number {
    return this.temperatureC + 0.08 * index + this.random.gaussian(0.03);
  }

  co2(): number {
    return this.co2Ppm + this.random.gaussian(4);
  }

  /** Headspace O2, %. */
  o2(): number {
    return this.o2Percent + this.random.gaussian(0.02);
  }
}
