// Route contracts of the web server's JSON API (port 3000): live data and dashboard settings.
import {
  type Static,
  type TArray,
  type TBoolean,
  type TNull,
  type TOptional,
  type TString,
  type TUnion,
  Type,
} from 'typebox';
import { defineRoute, IdParams, ServiceHealth } from './common.js';
import { type ErrorCode, errorResponses } from './errors.js';
import { ExperimentStateSchema } from './experiments.js';
import {
  Annotations,
  DEFAULT_PREFLIGHT_TIME_SCALE,
  HubExperiment,
  NodeInfo,
  ProgramPreview,
  ProgramPreviewRequest,
  QueueStatus,
  ScriptCheck,
  SubmitExperiment,
  SubmitRequest,
  SubmitResponse,
  SubmittedScript,
} from './hub-routes.js';
import { PreflightReport } from './node-routes.js';
import {
  EVENT_STREAM,
  IDEMPOTENCY_KEY_HEADER,
  IDEMPOTENCY_REPLAYED,
  SUBMISSION_FORM_FIELDS,
  scriptBodies,
  withOperationIds,
  ZIP,
} from './openapi.js';
import { DISPLAYED_READINGS, READING_KEYS, type READINGS, type ReadingKey, readingSpec } from './readings.js';

type Displayed = {
  [K in ReadingKey]: (typeof READINGS)[K] extends { display: infer D } ? [K, D] : never;
}[ReadingKey];
type SettingKey<E> = E extends [infer K, infer D] ? (D extends { setting: infer S extends string } ? S : K) : never;
/** A setting per displayed reading: required with its default, optional for a reading that has none. */
type DisplayProps = {
  [E in Displayed as SettingKey<E> & string]: E[1] extends { shownByDefault: boolean } ? TBoolean : TOptional<TBoolean>;
};
/**
 * Which series the dashboard shows, one key per displayed reading (readings.ts; the original's keys kept, e.g.
 * co2_sensor for the CO2). A reading added since has an optional key: absent, it is shown.
 */
export const DisplayComponents = Type.Object(
  Object.fromEntries(
    DISPLAYED_READINGS.filter((r, i, all) => all.findIndex((o) => o.setting === r.setting) === i).map((r) => [
      r.setting,
      r.display.shownByDefault === undefined
        ? Type.Optional(Type.Boolean({ description: `${r.display.settingLabel ?? r.spec.label}; absent: shown` }))
        : Type.Boolean({ default: r.display.shownByDefault }),
    ]),
  ) as unknown as DisplayProps,
);

export const DashboardSettings = Type.Object({
  display_components: DisplayComponents,
  update_interval: Type.Number({ minimum: 0.5, maximum: 60, default: 2, description: 'Seconds between updates' }),
  csv_file_path: Type.String({
    minLength: 1,
    maxLength: 200,
    pattern: '^[A-Za-z0-9._-]+\\.csv$',
    default: 'experiment_data.csv',
    description: 'CSV file (under the experiment output directory) followed during experiments',
  }),
});
export type DashboardSettings = Static<typeof DashboardSettings>;

export const DATA_SOURCES = ['csv', 'hardware', 'unknown'] as const;
export type DataSource = (typeof DATA_SOURCES)[number];

const Num = Type.Union([Type.Number(), Type.Null()]);
type SampleKey = {
  [K in ReadingKey]: (typeof READINGS)[K] extends { guide: true } | { display: object } ? K : never;
}[ReadingKey];
type SampleSchema<Kind> = Kind extends 'list'
  ? TArray<typeof Num>
  : Kind extends 'text'
    ? TUnion<[TString, TNull]>
    : typeof Num;
/** The readings a live sample carries: the guide's columns and every reading the dashboard shows (readings.ts). */
const SAMPLE_READINGS = Object.fromEntries(
  READING_KEYS.filter((k) => readingSpec(k).guide || readingSpec(k).display).map((k) => {
    const kind = readingSpec(k).kind;
    return [
      k,
      Type.Optional(
        kind === 'list' ? Type.Array(Num) : kind === 'text' ? Type.Union([Type.String(), Type.Null()]) : Num,
      ),
    ];
  }),
) as unknown as { [K in SampleKey]: TOptional<SampleSchema<(typeof READINGS)[K]['kind']>> };
/** One point of live data, from the experiment CSV or the node's sensors. */
export const LiveSample = Type.Object(
  {
    timestamp: Type.String(),
    epoch_ms: Type.Optional(Type.Number({ description: 'The timestamp as milliseconds since the epoch (UTC)' })),
    status: Type.Union([Type.Literal('success'), Type.Literal('error')]),
    source: Type.Union([Type.Literal('csv'), Type.Literal('hardware'), Type.Literal('unknown')]),
    experiment_id: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    ...SAMPLE_READINGS,
    message: Type.Optional(Type.String()),
  },
  { additionalProperties: true },
);
export type LiveSample = Static<typeof LiveSample>;

/** The lab's own settings: its name, and the time zone its times are shown in (the lab's or each browser's). */
export const LabSettings = Type.Object({
  lab_name: Type.String({ minLength: 1, maxLength: 100 }),
  time_zone: Type.String({
    minLength: 1,
    maxLength: 64,
    description: 'IANA time zone of the lab, e.g. Europe/Berlin; default: the web server machine’s',
  }),
  share_live_data: Type.Optional(
    Type.Boolean({
      description:
        'Every user sees the CSV rows of any running experiment on the dashboard (false, the default: only its owner and admins); absent when saving: unchanged',
    }),
  ),
});
export type LabSettings = Static<typeof LabSettings>;

/** What one user wants to be told. */
export const NotificationPrefs = Type.Object({
  browser_on_end: Type.Boolean({ description: 'A browser notification when one of their experiments ends' }),
  email_on_end: Type.Optional(
    Type.Boolean({ description: 'An e-mail through the lab’s mail server when one of their experiments ends' }),
  ),
  email: Type.Optional(
    Type.Union([Type.String({ maxLength: 254, pattern: '^[^\\s@]+@[^\\s@]+$' }), Type.Null()], {
      description: 'Where to send it',
    }),
  ),
});
export type NotificationPrefs = Static<typeof NotificationPrefs>;

/** The choices, and whether the lab has a mail server (BIOREACTOR_SMTP_URL) for e-mail. */
export const NotificationSettings = Type.Object({
  ...NotificationPrefs.properties,
  email_available: Type.Optional(Type.Boolean({ description: 'The lab’s mail server is configured' })),
});

/** An account as the lab manager sees it. */
export const AdminUser = Type.Object({
  username: Type.String(),
  role: Type.Union([Type.Literal('user'), Type.Literal('admin')]),
  disabled: Type.Boolean({ description: 'Cannot sign in; its sessions have ended' }),
  created_at: Type.Union([Type.String(), Type.Null()]),
  configured: Type.Boolean({ description: 'The admin of BIOREACTOR_ADMIN_USER: changed in the configuration only' }),
});
export type AdminUser = Static<typeof AdminUser>;

/** Who the browser is: its anonymous session, and the account it is signed in to, if any. */
export const WebSession = Type.Object({
  session_id: Type.String({
    description: 'First 8 characters of the browser session (the full id stays in the cookie)',
  }),
  user: Type.Union([
    Type.Object({
      username: Type.String(),
      role: Type.Union([Type.Literal('user'), Type.Literal('admin')]),
    }),
    Type.Null(),
  ]),
  csrf_token: Type.String({ description: 'Send back in X-CSRF-Token on every POST' }),
  admin_available: Type.Boolean({ description: 'Whether an admin account is configured' }),
});
export type WebSession = Static<typeof WebSession>;

export const Credentials = Type.Object({
  username: Type.String({ minLength: 1, maxLength: 64 }),
  password: Type.String({ minLength: 1, maxLength: 1024 }),
});

export const PasswordChange = Type.Object({
  current_password: Type.String({ minLength: 1, maxLength: 1024 }),
  new_password: Type.String({ minLength: 1, maxLength: 1024, description: 'At least 8 characters' }),
});

/**
 * How a failed run ended, from its error message: the Python exception (type and message) and the traceback's last
 * frame when the node found one, else the message's first line.
 */
export const FailureSummary = Type.Object({
  summary: Type.String({ description: 'One line: "ValueError: bad row (line 6, in main)" or the first line' }),
  exception: Type.Union([Type.String(), Type.Null()], { description: 'The exception type, e.g. ValueError' }),
  message: Type.Union([Type.String(), Type.Null()], { description: 'The exception message' }),
  file: Type.Union([Type.String(), Type.Null()]),
  line: Type.Union([Type.Integer(), Type.Null()]),
  function: Type.Union([Type.String(), Type.Null()]),
  exit_code: Type.Union([Type.Integer(), Type.Null()]),
});
export type FailureSummary = Static<typeof FailureSummary>;

/** An experiment as one browser may see it: another user's is masked unless the viewer is admin. */
export const WebExperiment = Type.Object({
  ...HubExperiment.properties,
  failure: Type.Optional(
    Type.Union([FailureSummary, Type.Null()], {
      description: 'Failed or interrupted with a message: what went wrong, in one line (null otherwise or masked)',
    }),
  ),
  experiment_id: Type.String({ description: 'The full id, or its first 8 characters when masked' }),
  mine: Type.Boolean({ description: 'Submitted by this browser or account' }),
  owner: Type.String({ description: 'Account name, "anonymous …", or "another user" when masked' }),
  masked: Type.Boolean({ description: 'The id is cut to 8 characters and details are hidden' }),
});
export type WebExperiment = Static<typeof WebExperiment>;

export const WebQueue = Type.Object({
  total_queued: Type.Integer(),
  total_running: Type.Integer(),
  total_paused: Type.Integer(),
  estimated_wait_minutes: Type.Number(),
  estimated_wait_p90_minutes: QueueStatus.properties.estimated_wait_p90_minutes,
  retention: QueueStatus.properties.retention,
  nodes_ready: QueueStatus.properties.nodes_ready,
  nodes_total: QueueStatus.properties.nodes_total,
  not_ready_reason: QueueStatus.properties.not_ready_reason,
  queue: Type.Array(WebExperiment),
});
export type WebQueue = Static<typeof WebQueue>;

/**
 * A chart-ready series of an experiment's CSV, downsampled by the node min/max per bucket: each bucket of
 * `bucket_rows` rows gives two rows, its first time with each column's minimum and its last time with each maximum,
 * so a spike stays visible however long the run.
 */
export const ExperimentSeries = Type.Object({
  experiment_id: Type.String(),
  file: Type.String(),
  total_rows: Type.Integer(),
  bucket_rows: Type.Integer({ description: 'CSV rows summarised by each pair of chart rows (1: every row)' }),
  method: Type.Literal('minmax'),
  rows: Type.Array(LiveSample),
});
export type ExperimentSeries = Static<typeof ExperimentSeries>;

const web = ['web'];
/** What any call through to the hub may answer besides its own errors. */
const HUB_FAILURES: ErrorCode[] = ['HUB_UNREACHABLE', 'FORBIDDEN', 'UNAUTHORIZED'];
const hubFailures = errorResponses(...HUB_FAILURES);
const credentialsExample = { alice: { value: { username: 'alice', password: 'correct horse battery' } } };
const experimentAction = (url: string, summary: string, ok: string) =>
  defineRoute({
    method: 'POST',
    url,
    schema: {
      tags: web,
      summary,
      docs: { ok },
      params: IdParams,
      response: {
        200: Type.Object({ success: Type.Literal(true), message: Type.String(), experiment: WebExperiment }),
        ...errorResponses('EXPERIMENT_NOT_FOUND', 'INVALID_STATE', 'QUEUE_LIMIT_REACHED', ...HUB_FAILURES),
      },
    },
  });

export const webRoutes = withOperationIds({
  health: defineRoute({
    method: 'GET',
    url: '/health',
    schema: {
      tags: ['service'],
      summary: 'Liveness',
      docs: { ok: 'The web server answers' },
      response: { 200: ServiceHealth },
    },
  }),
  session: defineRoute({
    method: 'GET',
    url: '/api/session',
    schema: {
      tags: web,
      summary: 'This browser’s session, account and CSRF token',
      docs: { ok: 'The session; its csrf_token goes in X-CSRF-Token on every POST' },
      response: { 200: WebSession },
    },
  }),
  register: defineRoute({
    method: 'POST',
    url: '/api/account/register',
    schema: {
      tags: web,
      summary: 'Create an account and sign in',
      docs: { ok: 'Signed in to the new account', examples: credentialsExample },
      body: Credentials,
      response: { 200: WebSession, ...errorResponses('VALIDATION_FAILED', 'INVALID_STATE', 'CSRF_FAILED') },
    },
  }),
  login: defineRoute({
    method: 'POST',
    url: '/api/account/login',
    schema: {
      tags: web,
      summary: 'Sign in: the browser gets a new session id and the sign-in cookie',
      docs: { ok: 'Signed in', examples: credentialsExample },
      body: Credentials,
      response: { 200: WebSession, ...errorResponses('UNAUTHORIZED', 'CSRF_FAILED', 'TOO_MANY_ATTEMPTS') },
    },
  }),
  logout: defineRoute({
    method: 'POST',
    url: '/api/account/logout',
    schema: {
      tags: web,
      summary: 'Sign out: the signed-in session is revoked on the server and the browser gets a new anonymous one',
      docs: { ok: 'Signed out: the new anonymous session' },
      response: { 200: WebSession, ...errorResponses('CSRF_FAILED') },
    },
  }),
  changePassword: defineRoute({
    method: 'POST',
    url: '/api/account/password',
    schema: {
      tags: web,
      summary:
        'Change the signed-in user’s password; every other session of the account is signed out, this one continues under a new id',
      docs: {
        ok: 'Changed: this browser’s new session',
        examples: {
          change: { value: { current_password: 'correct horse battery', new_password: 'staple battery horse' } },
        },
      },
      body: PasswordChange,
      response: {
        200: WebSession,
        ...errorResponses(
          'VALIDATION_FAILED',
          'UNAUTHORIZED',
          'FORBIDDEN',
          'CSRF_FAILED',
          'INVALID_STATE',
          'TOO_MANY_ATTEMPTS',
        ),
      },
    },
  }),
  upload: defineRoute({
    method: 'POST',
    url: '/api/experiments/upload',
    schema: {
      tags: web,
      summary:
        'Queue a script or a program: multipart (file, name, max_duration_s, preflight, time_scale) or JSON {script_content or program, name?, max_duration_s?, preflight?}',
      description:
        'The hub checks the script (size, UTF-8, syntax, imports) before it joins the queue; a rejected one answers 422 with every problem and its line. A program (docs/programs.md; a .yaml, .yml or .json file, or the field program) is checked against the document’s schema. `preflight` runs it first on a simulation twin at accelerated time (docs/preflight.md); where the lab requires a passed pre-flight, a run on real hardware without one answers 403 saying so.',
      docs: {
        ok: 'Queued (or, for a repeated Idempotency-Key, the first experiment as it is now)',
        body: scriptBodies(
          {
            ...SUBMISSION_FORM_FIELDS,
            script_content: Type.Optional(Type.String({ description: 'Instead of a file' })),
            program: Type.Optional(Type.String({ description: 'A program (YAML or JSON text) instead of a script' })),
            preflight: Type.Optional(
              Type.String({ description: 'true: run it as a pre-flight on a simulation twin at accelerated time' }),
            ),
            time_scale: Type.Optional(
              Type.String({
                description: `The pre-flight's speed-up, 1-3600 (default ${DEFAULT_PREFLIGHT_TIME_SCALE})`,
              }),
            ),
          },
          Type.Omit(SubmitExperiment, ['node']),
          false,
        ),
        headers: [IDEMPOTENCY_KEY_HEADER],
        responseHeaders: IDEMPOTENCY_REPLAYED,
      },
      response: {
        200: SubmitResponse,
        ...errorResponses(
          'VALIDATION_FAILED',
          'INVALID_JSON',
          'SCRIPT_REJECTED',
          'PAYLOAD_TOO_LARGE',
          'UNSUPPORTED_MEDIA_TYPE',
          'QUEUE_LIMIT_REACHED',
          'CSRF_FAILED',
          'FORBIDDEN',
          ...HUB_FAILURES,
        ),
      },
    },
  }),
  preflight: defineRoute({
    method: 'GET',
    url: '/api/experiments/:id/preflight',
    schema: {
      tags: web,
      summary: 'A pre-flight’s report, from the hub: what the culture would have seen on the twin',
      docs: { ok: 'The report (docs/preflight.md)' },
      params: IdParams,
      response: {
        200: Type.Object({ status: Type.Literal('success'), preflight: PreflightReport }),
        ...errorResponses(
          'EXPERIMENT_NOT_FOUND',
          'FILE_NOT_FOUND',
          'INVALID_STATE',
          'NODE_UNREACHABLE',
          ...HUB_FAILURES,
        ),
      },
    },
  }),
  queue: defineRoute({
    method: 'GET',
    url: '/api/queue',
    schema: {
      tags: web,
      summary: 'The whole active queue, masked for non-admins',
      docs: { ok: 'The queue: running first, then in queue order' },
      response: { 200: WebQueue, ...hubFailures },
    },
  }),
  mine: defineRoute({
    method: 'GET',
    url: '/api/experiments/mine',
    schema: {
      tags: web,
      summary: 'This browser’s (or account’s) experiments, newest first, a page at a time',
      docs: { ok: 'The page of experiments, and how many match' },
      querystring: Type.Object({
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, description: 'Page size (default: all)' })),
        offset: Type.Optional(Type.Integer({ minimum: 0, description: 'Skip this many (default 0)' })),
        q: Type.Optional(Type.String({ maxLength: 200, description: 'Only those whose name, id or label has this' })),
        status: Type.Optional(ExperimentStateSchema),
        include_archived: Type.Optional(
          Type.Boolean({ description: 'Also those the lab’s retention policy archived' }),
        ),
      }),
      response: {
        200: Type.Object({
          experiments: Type.Array(WebExperiment),
          total: Type.Optional(Type.Integer({ description: 'How many match, over every page' })),
        }),
        ...hubFailures,
      },
    },
  }),
  check: defineRoute({
    method: 'POST',
    url: '/api/experiments/check',
    schema: {
      tags: web,
      summary: 'Check a script with the hub’s own validator without queueing it',
      description:
        'The same checks as a submission (size, UTF-8, syntax, imports, max_duration_s); the editor calls it as you type.',
      docs: {
        ok: '`valid`, and every problem with its line or field',
        examples: { check: { value: { script_content: 'import numpy\nprint(1)\n', max_duration_s: 600 } } },
      },
      body: Type.Omit(SubmitRequest, ['node']),
      response: {
        200: ScriptCheck,
        ...errorResponses('VALIDATION_FAILED', 'PAYLOAD_TOO_LARGE', 'CSRF_FAILED', ...HUB_FAILURES),
      },
    },
  }),
  programPreview: defineRoute({
    method: 'POST',
    url: '/api/programs/preview',
    schema: {
      tags: web,
      summary: 'Check a program without queueing it and expand its timeline, through the hub',
      description:
        'The hub checks the document’s shape and an online node checks it against its components and expands the first `hours` (default 240); the upload page calls it as you type. An invalid program answers 200 with `valid: false` and every problem at its path under `program`. docs/programs.md',
      docs: { ok: '`valid`, the problems, the node that checked it, and the timeline' },
      body: ProgramPreviewRequest,
      querystring: Type.Object({
        hours: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 24 * 400, description: 'How far to expand' })),
      }),
      response: {
        200: ProgramPreview,
        ...errorResponses('VALIDATION_FAILED', 'PAYLOAD_TOO_LARGE', 'CSRF_FAILED', 'NODE_UNREACHABLE', ...HUB_FAILURES),
      },
    },
  }),
  script: defineRoute({
    method: 'GET',
    url: '/api/experiments/:id/script',
    schema: {
      tags: web,
      summary: 'The script this user’s experiment was submitted with (any for an admin): to run it again or edit it',
      docs: { ok: 'The script, its name and maximum duration' },
      params: IdParams,
      response: { 200: SubmittedScript, ...errorResponses('EXPERIMENT_NOT_FOUND', ...HUB_FAILURES) },
    },
  }),
  experiment: defineRoute({
    method: 'GET',
    url: '/api/experiments/:id',
    schema: {
      tags: web,
      summary: 'One experiment of this user (any for an admin)',
      docs: { ok: 'The experiment' },
      params: IdParams,
      response: {
        200: Type.Object({ experiment: WebExperiment }),
        ...errorResponses('EXPERIMENT_NOT_FOUND', ...HUB_FAILURES),
      },
    },
  }),
  logs: defineRoute({
    method: 'GET',
    url: '/api/experiments/:id/logs',
    schema: {
      tags: web,
      params: IdParams,
      summary:
        'The last `tail` lines of the log, or with ?follow=true the same lines then every new one as Server-Sent Events (`run.log`, then `run.updated` when the run ends)',
      docs: {
        ok: 'The log lines, or with ?follow=true an event stream',
        produces: {
          'application/json': { schema: Type.Object({ logs: Type.String() }) },
          ...EVENT_STREAM,
        },
      },
      querystring: Type.Object({
        tail: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000 })),
        follow: Type.Optional(Type.Boolean({ description: 'Stream the log while the experiment runs' })),
      }),
      response: {
        200: Type.Object({ logs: Type.String() }),
        ...errorResponses('EXPERIMENT_NOT_FOUND', 'NODE_UNREACHABLE', ...HUB_FAILURES),
      },
    },
  }),
  series: defineRoute({
    method: 'GET',
    url: '/api/experiments/:id/series',
    schema: {
      tags: web,
      summary: 'The experiment’s CSV as chart points (downsampled)',
      docs: { ok: 'The points, at most `points` of them' },
      params: IdParams,
      querystring: Type.Object({
        points: Type.Optional(Type.Integer({ minimum: 10, maximum: 5000 })),
        file: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._-]+\\.csv$' })),
      }),
      response: {
        200: ExperimentSeries,
        ...errorResponses('EXPERIMENT_NOT_FOUND', 'FILE_NOT_FOUND', 'NODE_UNREACHABLE', ...HUB_FAILURES),
      },
    },
  }),
  download: defineRoute({
    method: 'GET',
    url: '/experiment/:id/download',
    schema: {
      tags: web,
      summary: 'The results zip, streamed from the hub (failed runs too)',
      docs: { ok: 'The zip: output/**, user_script.py and manifest.json', produces: ZIP },
      params: IdParams,
      response: {
        200: Type.String(),
        ...errorResponses('EXPERIMENT_NOT_FOUND', 'NODE_UNREACHABLE', 'HUB_UNREACHABLE'),
      },
    },
  }),
  cancel: experimentAction(
    '/api/experiments/:id/cancel',
    'Cancel (a running one is stopped)',
    'Cancelled; a running experiment stops on its node',
  ),
  pause: experimentAction('/api/experiments/:id/pause', 'Hold a queued experiment back', 'Paused'),
  resume: experimentAction(
    '/api/experiments/:id/resume',
    'Put a paused experiment back in its place',
    'Back in the queue',
  ),
  runNow: experimentAction(
    '/api/experiments/:id/run-now',
    'Run next, pre-empting the running one (admin)',
    'At the head of the queue',
  ),
  reorder: defineRoute({
    method: 'POST',
    url: '/api/experiments/:id/reorder',
    schema: {
      tags: web,
      summary: 'Move to a 0-based position among active experiments (admin)',
      docs: { ok: 'Moved' },
      params: IdParams,
      querystring: Type.Object({ new_position: Type.Integer({ minimum: 0 }) }),
      response: {
        200: Type.Object({ success: Type.Literal(true), message: Type.String(), experiment: WebExperiment }),
        ...errorResponses('EXPERIMENT_NOT_FOUND', 'INVALID_STATE', ...HUB_FAILURES),
      },
    },
  }),
  nodes: defineRoute({
    method: 'GET',
    url: '/api/nodes',
    schema: {
      tags: web,
      summary: 'The nodes the hub drives',
      docs: { ok: 'Every node' },
      response: { 200: Type.Object({ nodes: Type.Array(NodeInfo) }), ...hubFailures },
    },
  }),
  annotate: defineRoute({
    method: 'POST',
    url: '/api/experiments/:id/annotations',
    schema: {
      tags: web,
      summary: 'Set the notes and labels of one of this user’s experiments (any for an admin)',
      docs: {
        ok: 'The experiment with its notes and labels',
        examples: { label: { value: { notes: 'Second inoculum', labels: ['E. coli', 'growth curve'] } } },
      },
      params: IdParams,
      body: Annotations,
      response: {
        200: Type.Object({ success: Type.Literal(true), experiment: WebExperiment }),
        ...errorResponses('EXPERIMENT_NOT_FOUND', 'VALIDATION_FAILED', 'CSRF_FAILED', ...HUB_FAILURES),
      },
    },
  }),
  allExperiments: defineRoute({
    method: 'GET',
    url: '/api/admin/experiments',
    schema: {
      tags: ['admin'],
      summary: 'Every experiment of the lab, newest first, with search and filters, a page at a time (admin)',
      docs: { ok: 'A page of experiments and how many match' },
      querystring: Type.Object({
        q: Type.Optional(Type.String({ maxLength: 200, description: 'In the name, id, owner, notes or labels' })),
        status: Type.Optional(ExperimentStateSchema),
        user: Type.Optional(
          Type.String({ maxLength: 200, description: 'Only this owner: an account name, or a session id' }),
        ),
        label: Type.Optional(Type.String({ maxLength: 40 })),
        include_archived: Type.Optional(Type.Boolean()),
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
        offset: Type.Optional(Type.Integer({ minimum: 0 })),
      }),
      response: {
        200: Type.Object({ experiments: Type.Array(WebExperiment), total: Type.Integer() }),
        ...hubFailures,
      },
    },
  }),
  drainNode: defineRoute({
    method: 'POST',
    url: '/api/nodes/:name/drain',
    schema: {
      tags: ['admin'],
      summary: 'Drain a node (admin): it finishes its run and takes no new ones; `drained: false` enables it',
      docs: { ok: 'The node as it is now', examples: { drain: { value: { drained: true } } } },
      params: Type.Object({ name: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }) }),
      body: Type.Object({ drained: Type.Boolean() }),
      response: { 200: NodeInfo, ...errorResponses('NODE_NOT_FOUND', 'CSRF_FAILED', ...HUB_FAILURES) },
    },
  }),
  events: defineRoute({
    method: 'GET',
    url: '/api/events',
    schema: {
      tags: web,
      summary: 'Server-Sent Events: experiment.updated, queue.updated, node.updated (masked per user)',
      docs: { ok: 'An event stream', produces: EVENT_STREAM },
      response: { 200: Type.String() },
    },
  }),
  liveData: defineRoute({
    method: 'GET',
    url: '/api/live-data',
    schema: {
      tags: ['live'],
      summary: 'One reactor’s latest sample as JSON, or (Accept: text/event-stream) its snapshot then every sample',
      description: 'A browser follows every reactor on /api/stream; this stays for scripts and curl.',
      docs: {
        ok: 'The latest sample, or with Accept: text/event-stream a snapshot with history, then every sample',
        produces: { 'application/json': { schema: LiveSample }, ...EVENT_STREAM },
      },
      querystring: Type.Object({
        node: Type.Optional(
          Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$', description: 'The reactor (node name); default: the first' }),
        ),
      }),
      response: { 200: LiveSample, ...errorResponses('NODE_NOT_FOUND') },
    },
  }),
  stream: defineRoute({
    method: 'GET',
    url: '/api/stream',
    schema: {
      tags: ['live'],
      summary:
        'Server-Sent Events, one stream per browser: the hub’s events of /api/events and every reactor’s live data (live.status, live.snapshot, live.samples, live.changed, live.rows, live.safety)',
      description:
        'Ids are `<epoch>-<seq>`; a client resuming with Last-Event-ID (or `?last_event_id=`) gets what it missed, or fresh snapshots after a gap. live.rows go only to viewers who may see that experiment’s data.',
      docs: { ok: 'An event stream', produces: EVENT_STREAM },
      querystring: Type.Object({
        nodes: Type.Optional(
          Type.String({
            maxLength: 2000,
            pattern: '^[A-Za-z0-9_,-]*$',
            description: 'Only these reactors, comma-separated node names (default: every one)',
          }),
        ),
        last_event_id: Type.Optional(
          Type.String({ maxLength: 100, description: 'Resume after this event (as the Last-Event-ID header)' }),
        ),
      }),
      response: { 200: Type.String() },
    },
  }),
  getLabSettings: defineRoute({
    method: 'GET',
    url: '/api/settings/lab',
    schema: {
      tags: ['settings'],
      summary: 'The lab’s name, time zone and whether every user sees running experiments’ live rows',
      docs: { ok: 'The lab settings' },
      response: { 200: LabSettings },
    },
  }),
  saveLabSettings: defineRoute({
    method: 'POST',
    url: '/api/settings/lab',
    schema: {
      tags: ['settings'],
      summary: 'Change the lab’s name, time zone or live-data sharing (admin only)',
      docs: { ok: 'Saved', examples: { berlin: { value: { lab_name: 'Growth lab', time_zone: 'Europe/Berlin' } } } },
      body: LabSettings,
      response: { 200: LabSettings, ...errorResponses('VALIDATION_FAILED', 'CSRF_FAILED', 'FORBIDDEN') },
    },
  }),
  getNotifications: defineRoute({
    method: 'GET',
    url: '/api/account/notifications',
    schema: {
      tags: web,
      summary: 'What this user (account or browser) wants to be told',
      docs: { ok: 'The notification choices' },
      response: { 200: NotificationSettings },
    },
  }),
  saveNotifications: defineRoute({
    method: 'POST',
    url: '/api/account/notifications',
    schema: {
      tags: web,
      summary:
        'Choose what this user is told when one of their experiments ends: a browser notification, an e-mail (when the lab has a mail server)',
      docs: {
        ok: 'Saved',
        examples: { on: { value: { browser_on_end: true, email_on_end: true, email: 'alice@lab.example' } } },
      },
      body: NotificationPrefs,
      response: { 200: NotificationSettings, ...errorResponses('VALIDATION_FAILED', 'CSRF_FAILED') },
    },
  }),
  users: defineRoute({
    method: 'GET',
    url: '/api/admin/users',
    schema: {
      tags: ['admin'],
      summary: 'Every account, with its role and whether it is disabled (admin)',
      docs: { ok: 'The accounts' },
      response: { 200: Type.Object({ users: Type.Array(AdminUser) }), ...errorResponses('FORBIDDEN') },
    },
  }),
  updateUser: defineRoute({
    method: 'POST',
    url: '/api/admin/users/:username',
    schema: {
      tags: ['admin'],
      summary: 'Give an account a role, or disable it (it cannot sign in and its sessions end) or enable it (admin)',
      docs: { ok: 'The account as it is now', examples: { disable: { value: { disabled: true } } } },
      params: Type.Object({ username: Type.String({ pattern: '^[A-Za-z0-9_.-]{3,32}$' }) }),
      body: Type.Object({
        role: Type.Optional(Type.Union([Type.Literal('user'), Type.Literal('admin')])),
        disabled: Type.Optional(Type.Boolean()),
      }),
      response: {
        200: AdminUser,
        ...errorResponses('FORBIDDEN', 'NOT_FOUND', 'VALIDATION_FAILED', 'CSRF_FAILED'),
      },
    },
  }),
  getSettings: defineRoute({
    method: 'GET',
    url: '/api/settings/dashboard',
    schema: {
      tags: ['settings'],
      summary: 'The lab-wide dashboard settings',
      docs: { ok: 'The settings' },
      response: { 200: DashboardSettings },
    },
  }),
  saveSettings: defineRoute({
    method: 'POST',
    url: '/api/settings/dashboard',
    schema: {
      tags: ['settings'],
      summary: 'Change the lab-wide dashboard settings (admin only)',
      docs: {
        ok: 'Saved: the settings now in force',
        examples: {
          fast: {
            summary: 'Every series, updated every second',
            value: {
              display_components: {
                co2_sensor: true,
                temperature: true,
                od_voltages: true,
                eyespy_voltages: true,
                stirrer_duty: true,
                peltier_duty: true,
              },
              update_interval: 1,
              csv_file_path: 'experiment_data.csv',
            },
          },
        },
      },
      body: DashboardSettings,
      response: {
        200: Type.Object({ status: Type.Literal('success'), message: Type.String(), settings: DashboardSettings }),
        ...errorResponses('VALIDATION_FAILED', 'CSRF_FAILED', 'FORBIDDEN'),
      },
    },
  }),
});
