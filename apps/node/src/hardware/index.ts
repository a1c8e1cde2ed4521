// The node's hardware as the rest of the node sees it: create it from the configuration, start, read, command, stop.
import { resolve } from 'node:path';
import type { ActuatorName, ComponentControls, ComponentName, ComponentStates } from '@bioreactor/api';
import type { NodeConfig } from '../config.js';
import { type Clock, realClock } from './clock.js';
import {
  type AllStates,
  type Capabilities,
  type CommandLogEntry,
  type ComponentReport,
  HardwareController,
  type HardwareLog,
  type HardwareMode,
} from './hardware.js';
import { type HardwareFile, loadHardwareFile } from './hardware-file.js';
import { createSimulation } from './simulation.js';
import { linuxTransports } from './transports/linux.js';
import type { TransportFactory } from './transports/types.js';

export { registerHardwareRoutes } from '../routes/hardware.js';
export { type Clock, createManualClock, createScaledClock, type ManualClock } from './clock.js';
export { type HardwareFile, HardwareFileError, parseHardwareFile } from './hardware-file.js';
export type { AllStates, Capabilities, CommandLogEntry, ComponentReport, HardwareLog, HardwareMode };

export interface Hardware {
  readonly mode: HardwareMode;
  /** Opens buses, applies the safe state, starts the samplers. */
  start(): Promise<void>;
  /** Safe state, then releases everything. */
  stop(): Promise<void>;
  /** Peltier off, pumps stopped, stirrer at its idle duty, lights off; logged with the reason. */
  applySafeState(reason: string): Promise<void>;
  capabilities(): Capabilities;
  allStates(): AllStates;
  /** The validated hardware file and the mode, for the experiment manifest. */
  hardwareConfig(): unknown;
  /** Actuator commands at or after `sinceIso` (append-only; also in DATA_DIR/hardware/command-log.jsonl). */
  commandLog(sinceIso?: string): CommandLogEntry[];
  /** Every actuator command from now on, as it is carried out; returns the unsubscribe. */
  onCommand(listener: (entry: CommandLogEntry) => void): () => void;
  /** Which components work, and why the others do not. */
  report(): ComponentReport;
  componentState<K extends ComponentName>(name: K): ComponentStates[K] | null;
  control<K extends ActuatorName>(name: K, body: ComponentControls[K], source: string): Promise<ComponentStates[K]>;
  history(
    name: string,
    sinceIso: string | undefined,
    limit: number,
  ): {
    component: string;
    unit: string;
    channels: string[];
    samples: { timestamp: string; values: (number | null)[] }[];
  };
  readonly events: HardwareController['events'];
}

export interface CreateHardwareOptions {
  log: HardwareLog;
  clock?: Clock;
  /** Seed of the simulated vessel's noise (default 1). */
  seed?: number;
  /** A hardware file already parsed (tests); otherwise BIOREACTOR_HARDWARE_CONFIG is read. */
  file?: HardwareFile;
  /** Transports to use instead of the mode's own (tests of real mode against emulated chips). */
  transports?: TransportFactory;
}

class NodeHardware extends HardwareController implements Hardware {
  hardwareConfig(): unknown {
    return { hardware_mode: this.mode, ...this.file };
  }
}

/** Reads and validates the hardware file (a bad one throws naming every problem), and picks the mode. */
export async function createHardware(
  config: Pick<NodeConfig, 'HARDWARE_MODE' | 'BIOREACTOR_HARDWARE_CONFIG' | 'DATA_DIR'>,
  opts: CreateHardwareOptions,
): Promise<Hardware & HardwareController> {
  let file = opts.file;
  if (!file) {
    const path = resolve(config.BIOREACTOR_HARDWARE_CONFIG);
    const loaded = loadHardwareFile(path);
    if (!loaded.found)
      opts.log.warn({ path }, `hardware file ${path} not found: every component enabled with default settings`);
    else if (loaded.path.endsWith('.py'))
      opts.log.info({ path: loaded.path }, `hardware file ${loaded.path} (read as data)`);
    for (const warning of loaded.warnings) opts.log.warn({ path: loaded.path }, warning);
    file = loaded.file;
  }
  const mode: HardwareMode = config.HARDWARE_MODE ?? file.hardware_mode ?? 'simulation';
  const clock = opts.clock ?? realClock;
  const simulation =
    mode === 'simulation' && !opts.transports ? createSimulation(file, clock, opts.seed ?? 1) : undefined;
  const transports =
    opts.transports ??
    simulation?.transports ??
    linuxTransports({ sysfsRoot: file.sysfs_root, devRoot: file.dev_root, gpioChipLabel: file.gpio_chip_label });
  return new NodeHardware({ file, mode, transports, log: opts.log, clock, dataDir: config.DATA_DIR, simulation });
}
