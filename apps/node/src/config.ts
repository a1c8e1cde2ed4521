// The node's configuration: environment variables (the guide's names), validated once at start.
import { LOG_LEVELS, loadEnv } from '@bioreactor/service-kit';
import { type Static, Type } from 'typebox';

/** A byte size as Docker writes it: a number with an optional b, k, m or g suffix. */
const SIZE_PATTERN = '^[0-9]+(\\.[0-9]+)?[bkmgBKMG]?$';

/** Bytes of a size like `512m` (powers of 1024, as Docker counts). */
export function parseSize(text: string): number {
  const match = /^([0-9]+(?:\.[0-9]+)?)([bkmg]?)$/i.exec(text.trim());
  if (!match) throw new Error(`'${text}' is not a size like 512m`);
  const unit = (match[2] ?? '').toLowerCase();
  const factor = unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : unit === 'g' ? 1024 ** 3 : 1;
  return Math.floor(Number(match[1]) * factor);
}

/** DATA_DIR when unset; the start-up reads it before the environment is validated. */
export const DEFAULT_DATA_DIR = 'data';

export const NodeEnv = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 9000, description: 'an integer port 0-65535' }),
  HOST: Type.String({ default: '0.0.0.0', description: 'Interface to listen on' }),
  HARDWARE_MODE: Type.Optional(
    Type.Union([Type.Literal('real'), Type.Literal('simulation')], {
      description: 'real drives the Pi’s buses; simulation runs the vessel model. Overrides the hardware file',
    }),
  ),
  LOG_LEVEL: Type.Union(
    LOG_LEVELS.map((l) => Type.Literal(l)),
    { default: 'INFO' },
  ),
  DATA_DIR: Type.String({ default: DEFAULT_DATA_DIR, description: 'Experiment data (experiments/{id}/…)' }),
  HOST_DATA_PATH: Type.Optional(
    Type.String({ description: 'Host path of DATA_DIR when the node itself runs in a container (bind mounts)' }),
  ),
  BIOREACTOR_HARDWARE_CONFIG: Type.String({
    default: 'config_hardware.json',
    description: 'The hardware file (the guide’s config_hardware.py as JSON)',
  }),
  // ---- the output supervisor, real mode (docs/hardware.md, "When the node dies") ----
  BIOREACTOR_HEARTBEAT_TIMEOUT_MS: Type.Integer({
    default: 3000,
    minimum: 500,
    maximum: 60_000,
    description: 'The supervisor turns the outputs off when the node has not beaten for this long',
  }),
  BIOREACTOR_WATCHDOG_DEVICE: Type.Optional(
    Type.String({
      minLength: 1,
      description: 'A hardware watchdog the supervisor arms (/dev/watchdog); unset: none',
    }),
  ),
  BIOREACTOR_TIME_SCALE: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: 3600,
      description:
        'Simulation only: the node is a twin whose simulated time runs this many times faster than the wall clock, and so do its runs (docs/preflight.md)',
    }),
  ),
  BIOREACTOR_API_TOKEN: Type.Optional(
    Type.String({ minLength: 16, description: 'Shared service token (16+ characters)' }),
  ),
  // ---- experiment runs (docs/experiments.md) ----
  BIOREACTOR_RUNNER: Type.Union([Type.Literal('auto'), Type.Literal('docker'), Type.Literal('local')], {
    default: 'auto',
    description: 'auto: Docker when an engine answers with the image, else local python3',
  }),
  BIOREACTOR_ALLOW_LOCAL_RUNNER_IN_REAL: Type.Boolean({
    default: false,
    description: 'Let the local runner (no isolation) drive real hardware',
  }),
  BIOREACTOR_EXPERIMENT_IMAGE: Type.String({ default: 'bioreactor-experiment', description: 'Experiment image tag' }),
  BIOREACTOR_EXPERIMENT_MEMORY: Type.String({
    default: '512m',
    pattern: SIZE_PATTERN,
    description: 'Memory per experiment, e.g. 512m or 1g',
  }),
  BIOREACTOR_EXPERIMENT_CPUS: Type.Number({ default: 1, exclusiveMinimum: 0, maximum: 64, description: 'CPUs' }),
  BIOREACTOR_EXPERIMENT_PIDS: Type.Integer({ default: 256, minimum: 16, description: 'Processes and threads' }),
  BIOREACTOR_EXPERIMENT_MAX_DURATION_S: Type.Integer({
    default: 86400,
    minimum: 1,
    description: 'Default and largest run time in seconds',
  }),
  BIOREACTOR_EXPERIMENT_OUTPUT_LIMIT: Type.String({
    default: '1g',
    pattern: SIZE_PATTERN,
    description: 'Largest output folder, e.g. 1g',
  }),
  BIOREACTOR_EXPERIMENT_OUTPUT_FILES: Type.Integer({
    default: 10_000,
    minimum: 1,
    description: 'Most files and folders in the output folder',
  }),
  BIOREACTOR_EXPERIMENT_LOG_LIMIT: Type.String({
    default: '10m',
    pattern: SIZE_PATTERN,
    description: 'Largest container_logs.txt',
  }),
  BIOREACTOR_MIN_FREE_DISK: Type.String({
    default: '256m',
    pattern: SIZE_PATTERN,
    description: 'Free space DATA_DIR keeps: starts are refused below it, a run is stopped below half of it',
  }),
  BIOREACTOR_EXPERIMENT_STOP_GRACE_S: Type.Integer({
    default: 10,
    minimum: 0,
    maximum: 300,
    description: 'Seconds between SIGTERM and SIGKILL on stop',
  }),
  BIOREACTOR_PYTHON: Type.String({ default: 'python3', description: 'Interpreter of the local runner' }),
});
export type NodeConfig = Static<typeof NodeEnv>;

export function loadConfig(env: Record<string, string | undefined>): NodeConfig {
  return loadEnv(NodeEnv, env);
}
