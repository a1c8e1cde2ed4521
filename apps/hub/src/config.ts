// The hub's configuration: environment variables (the guide's names), validated once at start.
import { MAX_DURATION_CEILING_S, MAX_TIMER_MS } from '@bioreactor/api';
import { LOG_LEVELS, loadEnv } from '@bioreactor/service-kit';
import { type Static, Type } from 'typebox';

export const HubEnv = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8000, description: 'an integer port 0-65535' }),
  HOST: Type.String({ default: '0.0.0.0', description: 'Interface to listen on' }),
  BIOREACTOR_NODE_API_URL: Type.String({
    default: 'http://bioreactor-node:9000',
    pattern: '^https?://[^,\\s]+(\\s*,\\s*https?://[^,\\s]+)*$',
    description: 'one node URL or a comma-separated list (http://host:9000,http://host2:9000)',
  }),
  LOG_LEVEL: Type.Union(
    LOG_LEVELS.map((l) => Type.Literal(l)),
    { default: 'INFO' },
  ),
  DATA_DIR: Type.String({ default: 'data', description: 'Queue database and exports' }),
  BIOREACTOR_API_TOKEN: Type.Optional(
    Type.String({ minLength: 16, description: 'Shared service token (16+ characters)' }),
  ),
  BIOREACTOR_RETENTION_DAYS: Type.Optional(
    Type.Number({
      minimum: 0,
      description:
        'days after its end a finished experiment is archived (or deleted, see BIOREACTOR_RETENTION_ACTION); unset or 0: kept until its owner or an admin deletes it',
    }),
  ),
  BIOREACTOR_RETENTION_ACTION: Type.Union([Type.Literal('archive'), Type.Literal('delete')], {
    default: 'archive',
    description: 'what BIOREACTOR_RETENTION_DAYS does: archive (left out of lists, still readable by id) or delete',
  }),
  BIOREACTOR_RETENTION_HOURS: Type.Optional(
    Type.Number({
      minimum: 0,
      description: 'the same policy in hours (older name); BIOREACTOR_RETENTION_DAYS wins when both are set',
    }),
  ),
  BIOREACTOR_SWEEP_INTERVAL_S: Type.Integer({
    minimum: 1,
    maximum: 86_400,
    default: 600,
    description: 'seconds between applications of the retention policy',
  }),
  BIOREACTOR_MAX_ACTIVE_PER_USER: Type.Integer({
    minimum: 1,
    default: 5,
    description: 'queued, running or paused experiments one user may have at once',
  }),
  BIOREACTOR_MAX_SCRIPT_BYTES: Type.Integer({
    minimum: 1024,
    default: 1024 * 1024,
    description: 'largest accepted script in bytes',
  }),
  BIOREACTOR_DEFAULT_MAX_DURATION_S: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: MAX_DURATION_CEILING_S,
      description:
        'seconds an experiment may run when it declares no max_duration_s; unset: the longest the hub and its nodes allow',
    }),
  ),
  BIOREACTOR_MAX_DURATION_LIMIT_S: Type.Integer({
    minimum: 1,
    maximum: MAX_DURATION_CEILING_S,
    default: MAX_DURATION_CEILING_S,
    description:
      'largest max_duration_s this hub accepts (each node also advertises its own BIOREACTOR_EXPERIMENT_MAX_DURATION_S)',
  }),
  BIOREACTOR_NODE_TIMEOUT_MS: Type.Integer({
    minimum: 100,
    maximum: MAX_TIMER_MS,
    default: 10_000,
    description: 'milliseconds the hub waits for one node request',
  }),
  BIOREACTOR_NODE_POLL_MS: Type.Integer({
    minimum: 50,
    maximum: MAX_TIMER_MS,
    default: 1000,
    description: 'milliseconds between status polls of a running experiment when the node has no event stream',
  }),
  BIOREACTOR_NODE_HEALTH_INTERVAL_MS: Type.Integer({
    minimum: 50,
    maximum: MAX_TIMER_MS,
    default: 5000,
    description: 'milliseconds between health probes of each node',
  }),
  BIOREACTOR_NODE_LOST_TIMEOUT_S: Type.Integer({
    minimum: 1,
    default: 600,
    description:
      'seconds of silence after which a node is reported lost (logged, on /api/nodes); a run on it stays running until the node reports its end',
  }),
  BIOREACTOR_NOTIFY_URL: Type.Optional(
    Type.String({
      pattern: '^https?://\\S+$',
      description:
        'an http(s) URL that gets a JSON POST whenever an experiment ends (Slack/Mattermost webhook, ntfy, …)',
    }),
  ),
  BIOREACTOR_NOTIFY_RETRY_MS: Type.Integer({
    minimum: 10,
    maximum: 3_600_000,
    default: 5000,
    description: 'milliseconds before the first retry of a failed notification; each further retry waits twice as long',
  }),
  BIOREACTOR_REQUIRE_PREFLIGHT: Type.Boolean({
    default: false,
    description:
      'lab policy: a script or program may run on real hardware only after the same user ran it as a pre-flight on a simulation twin (docs/preflight.md) and its report passed; 1 or true to turn it on',
  }),
  BIOREACTOR_PYTHON: Type.String({
    default: 'python3',
    description: 'Python 3.11 interpreter used to check script syntax and imports',
  }),
});
export type HubConfig = Static<typeof HubEnv>;

export function loadConfig(env: Record<string, string | undefined>): HubConfig {
  return loadEnv(HubEnv, env);
}

/** The retention policy in force: null (the default) keeps every finished experiment until someone deletes it. */
export function retentionOf(
  config: HubConfig,
): { afterMs: number; action: 'archive' | 'delete'; source: string } | null {
  const days = config.BIOREACTOR_RETENTION_DAYS;
  const hours = config.BIOREACTOR_RETENTION_HOURS;
  const ms = days !== undefined ? days * 86_400_000 : hours !== undefined ? hours * 3_600_000 : undefined;
  if (ms === undefined || ms <= 0) return null;
  return {
    afterMs: ms,
    action: config.BIOREACTOR_RETENTION_ACTION,
    source: days !== undefined ? `BIOREACTOR_RETENTION_DAYS=${days}` : `BIOREACTOR_RETENTION_HOURS=${hours}`,
  };
}
