// The node's hardware as the rest of the node sees it: create it from the configuration, start, read, command, stop.
import { resolve } from 'node:path';
import type {
  ActuatorName,
  ComponentControls,
  ComponentName,
  ComponentStates,
  SensorName,
  SimulatedFault,
  SimulatedFaultRequest,
} from '@bioreactor/api';
import type { NodeConfig } from '../config.js';
import { type Clock, createScalableClock, realClock } from './clock.js';
import {
  type AllStates,
  type Capabilities,
  type CommandLogEntry,
  type ComponentReport,
  HardwareController,
  type HardwareLog,
  type HardwareMode,
  type HardwareOptions,
  type Readiness,
} from './hardware.js';
import { type HardwareFile, loadHardwareFile } from './hardware-file.js';
import { createSimulation } from './simulation.js';
import { knownOutputs, OutputSupervisor, saveKnownOutputs, supervisorPidFile } from './supervisor/index.js';
import { type LinuxPaths, linuxTransports } from './transports/linux.js';
import type { TransportFactory } from './transports/types.js';
import { resolveHardwareMode } from './types.js';

export {
  type Clock,
  createManualClock,
  createScalableClock,
  createScaledClock,
  isScalableClock,
  type ManualClock,
  type ScalableClock,
} from './clock.js';
export { type HardwareFile, HardwareFileError, parseHardwareFile } from './hardware-file.js';
export type { AllStates, Capabilities, CommandLogEntry, ComponentReport, HardwareLog, HardwareMode };

export interface Hardware {
  readonly mode: HardwareMode;
  /** The hardware's time: the wall clock, or in simulation a clock a pre-flight may speed up (clock.ts). */
  readonly clock: Clock;
  /** Opens buses, applies the safe state, starts the samplers. */
  start(): Promise<void>;
  /** Safe state, then releases everything. */
  stop(): Promise<void>;
  /**
   * Peltier off, pumps stopped, stirrer at its idle duty, lights off; logged with the reason. `keep`: actuators
   * (actuatorKey names) left as they are.
   */
  applySafeState(reason: string, keep?: readonly string[]): Promise<void>;
  capabilities(): Capabilities;
  allStates(): AllStates;
  /** The validated hardware file and the mode, for the experiment manifest. */
  hardwareConfig(): unknown;
  /** What each actuator has done since the node started (pumped volumes, valve openings), for the manifest. */
  counters(): Record<string, unknown>;
  /** Actuator commands at or after `sinceIso` (append-only; also in DATA_DIR/hardware/command-log.jsonl). */
  commandLog(sinceIso?: string): CommandLogEntry[];
  /** Every actuator command from now on, as it is carried out; returns the unsubscribe. */
  onCommand(listener: (entry: CommandLogEntry) => void): () => void;
  /** Which components work, and why the others do not. */
  report(): ComponentReport;
  /** Why a component is unavailable, including one the hardware file leaves off that /api/status does not list. */
  whyUnavailable(name: string): string | undefined;
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
  /** True until every enabled sensor has its first sample or its error. */
  readonly starting: boolean;
  readiness(): Readiness;
  /** Waits (bounded) until these sensors have their first sample or error; at once when they have. */
  waitForFirstSamples(names?: readonly SensorName[], timeoutMs?: number): Promise<void>;
  /** The safety interlocks in force, as the dashboard words them. */
  interlocks(): string[];
  /** Fault injection; each throws NOT_FOUND on real hardware. */
  faults(): SimulatedFault[];
  injectFault(request: SimulatedFaultRequest): SimulatedFault[];
  clearFaults(): number;
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
  /**
   * What to do when the output supervisor ends while the node runs (it has turned the outputs off, so the node's
   * state no longer matches the hardware). Default: stop the hardware and exit with code 1, so the service restarts
   * into a known state.
   */
  onSupervisorLost?: (why: string) => void;
}

/** Real mode over Linux transports: the output supervisor's settings. */
interface Guard {
  paths: LinuxPaths;
  dataDir: string;
  timeoutMs: number;
  watchdogDevice: string | null;
  onLost?: (why: string) => void;
}

class NodeHardware extends HardwareController implements Hardware {
  private supervisor: OutputSupervisor | null = null;
  private readonly guardLog: HardwareLog;

  constructor(
    opts: HardwareOptions,
    private readonly guard: Guard | null,
  ) {
    super(opts);
    this.guardLog = opts.log;
  }

  hardwareConfig(): unknown {
    return { hardware_mode: this.mode, ...this.file };
  }

  /**
   * In real mode the outputs are listed in DATA_DIR (for the next start) and handed to the output supervisor before
   * anything drives them, so a node killed while it starts is covered too.
   */
  override async start(): Promise<void> {
    const guard = this.guard;
    if (guard && !this.supervisor) {
      const outputs = await knownOutputs(this.file, guard.paths);
      try {
        saveKnownOutputs(guard.dataDir, outputs);
      } catch (err) {
        this.guardLog.error(
          { err: (err as Error).message },
          `cannot keep the output list in DATA_DIR (${(err as Error).message}): a later start cannot turn these outputs off before it reads the hardware file`,
        );
      }
      // Nothing to guard: no process for it.
      if (outputs.length > 0 || guard.watchdogDevice)
        this.supervisor = OutputSupervisor.start({
          outputs,
          timeoutMs: guard.timeoutMs,
          watchdogDevice: guard.watchdogDevice,
          pidFile: supervisorPidFile(guard.dataDir),
          log: this.guardLog,
          onLost: guard.onLost ?? ((why) => this.exitAfterLosingSupervisor(why)),
        });
    }
    await super.start();
  }

  override async stop(): Promise<void> {
    await super.stop();
    await this.supervisor?.stop();
  }

  private exitAfterLosingSupervisor(why: string): void {
    this.guardLog.error(
      { why },
      `${why}: the node no longer knows the state of its outputs, so it stops and exits for a clean restart`,
    );
    const force = setTimeout(() => process.exit(1), 5000);
    force.unref();
    void this.stop().finally(() => process.exit(1));
  }
}

/** Reads and validates the hardware file (a bad one throws naming every problem), and picks the mode. */
export async function createHardware(
  config: Pick<NodeConfig, 'HARDWARE_MODE' | 'BIOREACTOR_HARDWARE_CONFIG' | 'DATA_DIR'> &
    Partial<
      Pick<NodeConfig, 'BIOREACTOR_HEARTBEAT_TIMEOUT_MS' | 'BIOREACTOR_WATCHDOG_DEVICE' | 'BIOREACTOR_TIME_SCALE'>
    >,
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
  const mode = resolveHardwareMode(config.HARDWARE_MODE, file.hardware_mode);
  if (mode === 'real' && config.BIOREACTOR_TIME_SCALE !== undefined)
    throw new Error(
      `BIOREACTOR_TIME_SCALE=${config.BIOREACTOR_TIME_SCALE} makes the node a simulation twin, but it drives real hardware (hardware mode real): unset BIOREACTOR_TIME_SCALE, or set HARDWARE_MODE=simulation`,
    );
  // A simulation's time can be sped up (a twin, a pre-flight run); real hardware runs on the wall clock only.
  const clock =
    opts.clock ??
    (mode === 'simulation' && !opts.transports ? createScalableClock(config.BIOREACTOR_TIME_SCALE ?? 1) : realClock);
  const simulation =
    mode === 'simulation' && !opts.transports ? createSimulation(file, clock, opts.seed ?? 1) : undefined;
  const paths: LinuxPaths = { sysfsRoot: file.sysfs_root, devRoot: file.dev_root, gpioChipLabel: file.gpio_chip_label };
  const transports = opts.transports ?? simulation?.transports ?? linuxTransports(paths);
  // Only the Linux transports leave outputs on in the kernel when the node dies.
  const guard: Guard | null =
    mode === 'real' && !opts.transports
      ? {
          paths,
          dataDir: config.DATA_DIR,
          timeoutMs: config.BIOREACTOR_HEARTBEAT_TIMEOUT_MS ?? 3000,
          watchdogDevice: config.BIOREACTOR_WATCHDOG_DEVICE ?? null,
          onLost: opts.onSupervisorLost,
        }
      : null;
  return new NodeHardware(
    { file, mode, transports, log: opts.log, clock, dataDir: config.DATA_DIR, simulation },
    guard,
  );
}
