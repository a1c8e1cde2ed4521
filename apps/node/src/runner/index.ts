// Chooses how experiment scripts run on this node: BIOREACTOR_RUNNER=docker|local, or auto (Docker when an engine
// answers and has the image, else the local python3, said loudly in the log and in /api/status).
import type { NodeConfig } from '../config.js';
import { type HardwareMode, resolveHardwareMode } from '../hardware/types.js';
import { DockerRunner } from './docker-runner.js';
import { LocalRunner } from './local-runner.js';
import type { ExperimentRunner } from './runner.js';

export { DockerRunner } from './docker-runner.js';
export { LocalRunner } from './local-runner.js';
export type { ExperimentRunner, RunHandle, RunSpec } from './runner.js';

export interface RunnerLogger {
  info(msg: string): void;
  warn(msg: string): void;
}

/**
 * Why the local runner may not run scripts here: it has no isolation, so on real hardware it needs the explicit
 * allowance. `mode` is the hardware's own (HARDWARE_MODE, else the hardware file's hardware_mode), not the
 * environment's alone.
 */
export function localRunnerRefusal(config: NodeConfig, mode: HardwareMode): string | undefined {
  if (mode !== 'real' || config.BIOREACTOR_ALLOW_LOCAL_RUNNER_IN_REAL) return undefined;
  return 'the local runner has no isolation and the hardware is real (HARDWARE_MODE=real, or hardware_mode "real" in the hardware file): run a Docker engine with the experiment image, or set BIOREACTOR_ALLOW_LOCAL_RUNNER_IN_REAL=true';
}

export async function chooseRunner(
  config: NodeConfig,
  log: RunnerLogger,
  mode: HardwareMode = resolveHardwareMode(config.HARDWARE_MODE, undefined),
): Promise<ExperimentRunner> {
  const docker = new DockerRunner({
    image: config.BIOREACTOR_EXPERIMENT_IMAGE,
    dataDir: config.DATA_DIR,
    hostDataPath: config.HOST_DATA_PATH,
  });
  const local = new LocalRunner({ python: config.BIOREACTOR_PYTHON, refusal: localRunnerRefusal(config, mode) });
  if (config.BIOREACTOR_RUNNER === 'docker') {
    // Said at start, as /api/status says it: an image the node refuses (its client older than the API) included.
    const info = await docker.probe();
    if (!info.available) log.warn(`experiments cannot run until this is fixed: ${info.detail}`);
    return docker;
  }
  if (config.BIOREACTOR_RUNNER === 'local') {
    log.warn(`experiments run with the local runner (BIOREACTOR_RUNNER=local): ${(await local.probe()).detail}`);
    return local;
  }
  const info = await docker.probe();
  if (info.available) {
    log.info(`experiments run in containers: ${info.detail}`);
    return docker;
  }
  const localInfo = await local.probe();
  log.warn(`experiments run with the local runner because ${info.detail}. ${localInfo.detail}`);
  return local;
}
