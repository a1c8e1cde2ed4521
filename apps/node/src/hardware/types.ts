// Small types shared by the controller, the components and the supervisor.

export type HardwareMode = 'real' | 'simulation';

export interface HardwareLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  /** The critical stage of the over-temperature response (pino's fatal level); error when absent. */
  fatal?(obj: object, msg: string): void;
}

/**
 * Where the hardware mode comes from: HARDWARE_MODE in the environment wins over the hardware file's
 * `hardware_mode`; with neither, the node simulates. The one place this is decided: the hardware, the runner's
 * guard, /health and the experiment manifest all take the mode this answers.
 */
export function resolveHardwareMode(env: HardwareMode | undefined, file: HardwareMode | undefined): HardwareMode {
  return env ?? file ?? 'simulation';
}
