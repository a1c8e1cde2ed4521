// Builds the node service (hardware API + experiment runs) without listening.
import { SYSTEM_VERSION } from '@bioreactor/api';
import { createService, type Service } from '@bioreactor/service-kit';
import type { NodeConfig } from './config.js';
import {
  createExperiments,
  type ExperimentHardware,
  type ExperimentStatus,
  type RegisterHardwareRoutes,
} from './experiments/index.js';
import { createHardware, type Hardware } from './hardware/index.js';
import { registerHardwareRoutes } from './routes/hardware.js';
import { registerRoutes } from './routes/index.js';
import { registerPreflightRoutes } from './routes/preflight.js';
import { createProgramExecutor, registerProgramRouteSet } from './routes/programs.js';
import type { ExperimentRunner } from './runner/runner.js';

export interface NodeDeps {
  /** Quiet logs in tests. */
  logger?: boolean;
  strictResponses?: boolean;
  /** Runs experiment scripts; chosen from BIOREACTOR_RUNNER when absent (tests pass one). */
  runner?: ExperimentRunner;
  /** The hardware experiments drive: safe state at every end, manifest facts, the per-run hardware API. */
  experimentHardware?: ExperimentHardware;
  registerHardwareRoutes?: RegisterHardwareRoutes;
  /** Filled by buildApp: what /api/status shows about experiments (runner, active run). */
  experimentStatus?: ExperimentStatus;
  /** The node's hardware; created from the hardware file when absent (tests pass a simulation on a fast clock). */
  hardware?: Hardware;
}

export async function buildApp(config: NodeConfig, deps: NodeDeps = {}): Promise<Service> {
  const app = await createService({
    name: 'bioreactor-node',
    version: SYSTEM_VERSION,
    description: 'Bioreactor node: hardware API (v3 and v2) and experiment containers.',
    logLevel: config.LOG_LEVEL,
    apiToken: config.BIOREACTOR_API_TOKEN,
    strictResponses: deps.strictResponses,
    logger: deps.logger,
  });
  const hardware = deps.hardware ?? (await createHardware(config, { log: app.log }));
  await hardware.start();
  app.addHook('onClose', async () => hardware.stop());
  const experimentHardware = deps.experimentHardware ?? hardware;
  // Before the runs are recovered: a program run found live resumes with its program.
  const programs = await createProgramExecutor(
    config,
    hardware,
    app.log,
    () => deps.experimentStatus?.activeExperimentId() ?? null,
  );
  app.addHook('onClose', async () => programs.detach());
  const experiments = await createExperiments(config, {
    programs,
    registerProgramRoutes: (server) => registerProgramRouteSet(server, programs),
    runner: deps.runner,
    hardware: experimentHardware,
    registerHardwareRoutes:
      deps.registerHardwareRoutes ?? ((server, _hw, opts) => registerHardwareRoutes(server, hardware, opts)),
    // The one mode: the hardware's (HARDWARE_MODE, else the hardware file's hardware_mode).
    hardwareMode: hardware.mode,
    twin: hardware,
    log: app.log,
  });
  deps.experimentStatus = experiments.manager;
  // A container outlives a node restart and is re-attached at the next start; see docs/experiments.md.
  app.addHook('onClose', async () => experiments.manager.detach());
  await registerRoutes(app, config, {
    experiments: { ...experiments, hardware: experimentHardware },
    hardware,
    programs,
    experimentStatus: () => deps.experimentStatus,
    twin: experiments.preflight.advertised(),
  });
  registerPreflightRoutes(app, experiments);
  return app;
}
