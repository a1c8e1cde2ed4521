// Experiment runs on the node: the store on disk, the lifecycle, and what /api/status reads from them.
import { resolve } from 'node:path';
import { SYSTEM_VERSION } from '@bioreactor/api';
import { type NodeConfig, parseSize } from '../config.js';
import { type HardwareMode, resolveHardwareMode } from '../hardware/types.js';
import { chooseRunner } from '../runner/index.js';
import type { ExperimentRunner, RunnerInfoBody } from '../runner/runner.js';
import {
  type ExperimentHardware,
  hardwareGatewayFactory,
  type RegisterHardwareRoutes,
  type RegisterProgramRoutes,
} from './hardware-gateway.js';
import { ExperimentManager, type ManagerLogger, type NodePrograms } from './manager.js';
import { Preflight, type TwinHardware } from './preflight.js';
import { ExperimentStore } from './store.js';

export type { ExperimentHardware, RegisterHardwareRoutes } from './hardware-gateway.js';
export { ExperimentManager } from './manager.js';
export { ExperimentStore } from './store.js';

/** What the hardware routes' /api/status shows about experiments. */
export interface ExperimentStatus {
  runnerInfo(): RunnerInfoBody;
  activeExperimentId(): string | null;
}

export interface ExperimentsDeps {
  runner?: ExperimentRunner | undefined;
  hardware?: ExperimentHardware | undefined;
  registerHardwareRoutes?: RegisterHardwareRoutes | undefined;
  /** The node's programs: on each run's private hardware API, kept on at a run's end, and runs of their own. */
  programs?: NodePrograms | undefined;
  registerProgramRoutes?: RegisterProgramRoutes | undefined;
  /** The hardware's mode (HARDWARE_MODE, else the hardware file's), for the runner's guard and the manifest. */
  hardwareMode?: HardwareMode | undefined;
  /** The node's simulated hardware, whose clock a pre-flight speeds up (docs/preflight.md). */
  twin?: TwinHardware | undefined;
  log: ManagerLogger;
}

export interface Experiments {
  manager: ExperimentManager;
  store: ExperimentStore;
  preflight: Preflight;
}

/** Builds the store and the lifecycle and reconciles with runs that were live when the node last stopped. */
export async function createExperiments(config: NodeConfig, deps: ExperimentsDeps): Promise<Experiments> {
  const dataDir = resolve(config.DATA_DIR);
  const store = new ExperimentStore(dataDir);
  const hardwareMode = deps.hardwareMode ?? resolveHardwareMode(config.HARDWARE_MODE, undefined);
  const runner =
    deps.runner ??
    (await chooseRunner(
      config,
      {
        info: (msg) => deps.log.info(msg),
        warn: (msg) => deps.log.warn(msg),
      },
      hardwareMode,
    ));
  const preflight = new Preflight({ twin: deps.twin, baseScale: config.BIOREACTOR_TIME_SCALE });
  const manager = new ExperimentManager({
    preflight,
    store,
    runner,
    openGateway: hardwareGatewayFactory(
      deps.hardware,
      deps.registerHardwareRoutes,
      (id, refusal) => preflight.refused(id, refusal),
      deps.registerProgramRoutes,
    ),
    programs: deps.programs,
    hardware: deps.hardware,
    dataDir,
    nodeVersion: SYSTEM_VERSION,
    hardwareMode,
    limits: {
      memory_bytes: parseSize(config.BIOREACTOR_EXPERIMENT_MEMORY),
      cpus: config.BIOREACTOR_EXPERIMENT_CPUS,
      pids: config.BIOREACTOR_EXPERIMENT_PIDS,
      output_bytes: parseSize(config.BIOREACTOR_EXPERIMENT_OUTPUT_LIMIT),
      output_files: config.BIOREACTOR_EXPERIMENT_OUTPUT_FILES,
      log_bytes: parseSize(config.BIOREACTOR_EXPERIMENT_LOG_LIMIT),
    },
    maxDurationS: config.BIOREACTOR_EXPERIMENT_MAX_DURATION_S,
    minFreeBytes: parseSize(config.BIOREACTOR_MIN_FREE_DISK),
    stopGraceMs: config.BIOREACTOR_EXPERIMENT_STOP_GRACE_S * 1000,
    log: deps.log,
  });
  await manager.recover();
  return { manager, store, preflight };
}
