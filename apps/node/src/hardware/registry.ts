// Every component the node knows, one line each, in the order the API lists them. The hardware file's schema, the
// controller, the simulation, the output supervisor and the conformance tests all read this list; nothing is
// registered by being imported.
import ambientTemp from './components/ambient-temp.js';
import co2Sensor from './components/co2-sensor.js';
import type { ComponentDescriptor, ConfigSchema } from './components/component.js';
import eyespy from './components/eyespy.js';
import gasRelays from './components/gas-relays.js';
import led from './components/led.js';
import o2Sensor from './components/o2-sensor.js';
import opticalDensity from './components/optical-density.js';
import peltier from './components/peltier.js';
import peltierCurrent from './components/peltier-current.js';
import pumps from './components/pumps.js';
import ringLight from './components/ring-light.js';
import stirrer from './components/stirrer.js';
import tempSensor from './components/temp-sensor.js';

const LIST = [
  co2Sensor,
  tempSensor,
  opticalDensity,
  eyespy,
  pumps,
  stirrer,
  peltier,
  led,
  ringLight,
  gasRelays,
  o2Sensor,
  ambientTemp,
  peltierCurrent,
] as const;

export const REGISTRY = LIST as unknown as readonly ComponentDescriptor<ConfigSchema>[];

type Union<T> = (T extends unknown ? (k: T) => void : never) extends (k: infer I) => void ? I : never;
/** Every registered component's hardware-file keys (their schemas), for the file's static type. */
export type RegisteredKeys = Union<(typeof LIST)[number]['config']>;
