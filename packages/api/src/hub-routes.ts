// Route contracts of the hub (port 8000): the durable experiment queue and its nodes.
import { type Static, Type } from 'typebox';
import { defineRoute, IdParams, ServiceHealth } from './common.js';
import { DurationPolicy, MAX_TIME_SCALE, MaxDurationSourceSchema } from './durations.js';
import { errorResponses, Problem } from './errors.js';
import { ExperimentId, ExperimentStateSchema, Timestamp } from './experiments.js';
import {
  DataQuery,
  NEXT_OFFSET_HEADER,
  NodeRunSeries,
  NodeSeriesQuery,
  PreflightReport,
  TailQuery,
} from './node-routes.js';
import {
  EVENT_STREAM,
  EXAMPLE_SCRIPT,
  formText,
  IDEMPOTENCY_KEY_HEADER,
  IDEMPOTENCY_REPLAYED,
  SUBMISSION_FORM_FIELDS,
  scriptBodies,
  USER_HEADERS,
  withOperationIds,
  ZIP,
} from './openapi.js';
import { ProgramTimeline } from './programs.js';

/** What an expected run length rests on, best first (docs/queue.md, "Estimates"). */
export const ESTIMATE_BASES = ['same_script', 'declared', 'same_owner', 'all_runs', 'none'] as const;
export type EstimateBasis = (typeof ESTIMATE_BASES)[number];
export const EstimateBasisSchema = Type.Enum([...ESTIMATE_BASES] as EstimateBasis[]);

/**
 * Whether a node can run experiments, first reason first: `offline` (not answering), `drained` (an admin stopped
 * new runs), `storage_problem` (its disk), `runner_unavailable` (no container engine or experiment image),
 * `starting` (its sensors' first readings), `busy` (running one) or `ready`.
 */
export const NODE_READINESS = [
  'ready',
  'busy',
  'starting',
  'runner_unavailable',
  'storage_problem',
  'drained',
  'offline',
] as const;
export type NodeReadiness = (typeof NODE_READINESS)[number];
export const NodeReadinessSchema = Type.Enum([...NODE_READINESS] as NodeReadiness[], {
  description: 'ready | busy | starting | runner_unavailable | storage_problem | drained | offline',
});

/** What an experiment runs: a Python script in a container, or a program the node runs itself (docs/programs.md). */
export const ExperimentKindSchema = Type.Union([Type.Literal('script'), Type.Literal('program')], {
  description: 'script | program',
});
export type ExperimentKind = Static<typeof ExperimentKindSchema>;

/** A pre-flight's speed-up when the submission names none: a 24 h run in 24 minutes. */
export const DEFAULT_PREFLIGHT_TIME_SCALE = 60;

/** One experiment as the hub reports it. */
export const HubExperiment = Type.Object({
  experiment_id: ExperimentId,
  name: Type.Union([Type.String(), Type.Null()]),
  user_session_id: Type.String({ description: 'Owner (X-Session-ID or account id)' }),
  status: ExperimentStateSchema,
  queue_position: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()], {
    description: '1-based position among active experiments; null once started or finished',
  }),
  node: Type.Union([Type.String(), Type.Null()], { description: 'Node it runs (or ran) on, or is pinned to' }),
  created_at: Type.String({ format: 'date-time' }),
  started_at: Timestamp,
  completed_at: Timestamp,
  exit_code: Type.Union([Type.Integer(), Type.Null()]),
  error_message: Type.Union([Type.String(), Type.Null()]),
  max_duration_s: Type.Integer(),
  estimated_start: Timestamp,
  // The fields below are always sent by the hub; optional so that older hubs and test doubles still match.
  max_duration_source: Type.Optional(MaxDurationSourceSchema),
  elapsed_s: Type.Optional(
    Type.Union([Type.Number(), Type.Null()], {
      description: 'Running: seconds since it started (monotonic); finished after running: how long it ran',
    }),
  ),
  expected_duration_s: Type.Optional(
    Type.Union([Type.Number(), Type.Null()], {
      description: 'Typical length (p50) from what is known, see estimate_basis',
    }),
  ),
  expected_duration_p90_s: Type.Optional(
    Type.Union([Type.Number(), Type.Null()], {
      description: 'Long end of the expected length (p90), at most max_duration_s',
    }),
  ),
  estimate_basis: Type.Optional(
    Type.Union([EstimateBasisSchema, Type.Null()], {
      description: 'What the expected length rests on: same_script | declared | same_owner | all_runs | none',
    }),
  ),
  estimated_start_p90: Type.Optional(
    Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
      description: 'Queued: the late end of the start estimate (every run ahead taking its p90)',
    }),
  ),
  estimated_end: Type.Optional(
    Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
      description: 'Queued or running: expected end (p50)',
    }),
  ),
  estimated_end_p90: Type.Optional(
    Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
      description: 'Queued or running: late end (p90)',
    }),
  ),
  node_unreachable_since: Type.Optional(
    Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
      description:
        'Running on a node the hub cannot reach: since when. The run is presumed to go on; the node’s record is taken when it answers',
    }),
  ),
  note: Type.Optional(
    Type.Union([Type.String(), Type.Null()], { description: 'What the hub knows that the state alone does not say' }),
  ),
  preempted_by: Type.Optional(
    Type.Union([Type.String(), Type.Null()], {
      description: 'Cancelled by run-now while running: the experiment that took its node',
    }),
  ),
  archived_at: Type.Optional(
    Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
      description:
        'Archived by the lab’s retention policy (BIOREACTOR_RETENTION_DAYS): left out of lists, still readable by id',
    }),
  ),
  notes: Type.Optional(
    Type.Union([Type.String(), Type.Null()], { description: 'Its owner’s notes (for its owner and admins only)' }),
  ),
  labels: Type.Optional(
    Type.Array(Type.String(), { description: 'Its owner’s labels (for its owner and admins only)' }),
  ),
  kind: Type.Optional(ExperimentKindSchema),
  preflight: Type.Optional(
    Type.Union(
      [
        Type.Object({
          time_scale: Type.Integer({
            description: 'Its simulated time runs this many times faster than the wall clock',
          }),
          passed: Type.Union([Type.Boolean(), Type.Null()], {
            description: 'Its report’s verdict (GET /api/experiments/{id}/preflight); null until it is known',
          }),
        }),
        Type.Null(),
      ],
      {
        description: 'A pre-flight on a simulation twin at accelerated time (docs/preflight.md); null for a run',
      },
    ),
  ),
});
export type HubExperiment = Static<typeof HubExperiment>;

/** Notes and labels a user puts on their own experiment; what is left out stays as it is. */
export const Annotations = Type.Object({
  notes: Type.Optional(Type.Union([Type.String({ maxLength: 5000 }), Type.Null()])),
  labels: Type.Optional(
    Type.Array(Type.String({ minLength: 1, maxLength: 40, pattern: '^[^,\\n]+$' }), {
      maxItems: 10,
      description: 'Up to 10 labels of 1-40 characters (no commas)',
    }),
  ),
});
export type Annotations = Static<typeof Annotations>;

/** A page of every experiment (admin), newest first, and how many match. */
export const ExperimentPage = Type.Object({
  experiments: Type.Array(HubExperiment),
  total: Type.Integer({ description: 'How many match, over every page' }),
});

export const SubmitRequest = Type.Object({
  script_content: Type.String({ description: 'The Python script, as text' }),
  name: Type.Optional(Type.String({ maxLength: 200 })),
  max_duration_s: Type.Optional(Type.Integer({ minimum: 1 })),
  node: Type.Optional(Type.String({ description: 'Run on this node only' })),
});
export type SubmitRequest = Static<typeof SubmitRequest>;

export const PreflightRequest = Type.Object(
  {
    time_scale: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: MAX_TIME_SCALE,
        default: DEFAULT_PREFLIGHT_TIME_SCALE,
        description: `How many times faster than the wall clock the twin runs it (default ${DEFAULT_PREFLIGHT_TIME_SCALE})`,
      }),
    ),
  },
  {
    additionalProperties: false,
    description:
      'Run it as a pre-flight: on a simulation twin only (a node whose /api/status has experiment_limits.twin), at accelerated time, with a report of what the culture would have seen (docs/preflight.md)',
  },
);
export type PreflightRequest = Static<typeof PreflightRequest>;

/** A submission as JSON: a script or a program, either as a run or as a pre-flight. */
export const SubmitExperiment = Type.Object({
  script_content: Type.Optional(Type.String({ description: 'The Python script, as text (or `program` instead)' })),
  program: Type.Optional(
    Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.String()], {
      description:
        'A program instead of a script (docs/programs.md): the document, or its YAML or JSON text. Its shape is checked here, its components by the node that runs it',
    }),
  ),
  preflight: Type.Optional(PreflightRequest),
  name: Type.Optional(Type.String({ maxLength: 200 })),
  max_duration_s: Type.Optional(Type.Integer({ minimum: 1 })),
  node: Type.Optional(Type.String({ description: 'Run on this node only' })),
});
export type SubmitExperiment = Static<typeof SubmitExperiment>;

export const SubmitResponse = Type.Object({
  experiment_id: ExperimentId,
  status: Type.Union([Type.Literal('queued'), ExperimentStateSchema], {
    description: '`queued`; a retry with the same Idempotency-Key answers the first experiment as it is now',
  }),
  queue_position: Type.Integer({ minimum: 0, description: 'Place in the queue (1 is next); 0 once it left it' }),
  estimated_start: Timestamp,
  max_duration_s: Type.Optional(Type.Integer({ description: 'How long it may run: declared, or the default' })),
  max_duration_source: Type.Optional(MaxDurationSourceSchema),
  message: Type.String(),
});

export const QueueStatus = Type.Object({
  total_queued: Type.Integer(),
  total_running: Type.Integer(),
  total_paused: Type.Integer(),
  estimated_wait_minutes: Type.Number({ description: 'When a new submission would start (p50), in minutes' }),
  estimated_wait_p90_minutes: Type.Optional(
    Type.Number({ description: 'The late end of that wait (every run ahead taking its p90), in minutes' }),
  ),
  duration_policy: Type.Optional(DurationPolicy),
  retention: Type.Optional(
    Type.Union(
      [
        Type.Object({
          action: Type.Union([Type.Literal('archive'), Type.Literal('delete')]),
          after_s: Type.Number({ description: 'Seconds after a finished experiment ended' }),
        }),
        Type.Null(),
      ],
      {
        description:
          'The lab’s retention policy: finished experiments are archived or deleted this long after they end (null: kept)',
      },
    ),
  ),
  nodes_ready: Type.Optional(
    Type.Integer({ description: 'Nodes that can run experiments now (busy ones included); 0: nothing starts' }),
  ),
  nodes_total: Type.Optional(Type.Integer({ description: 'Nodes registered with the hub' })),
  not_ready_reason: Type.Optional(
    Type.Union([Type.String(), Type.Null()], {
      description: 'When no node can run experiments: why, node by node (null when one can)',
    }),
  ),
  queue: Type.Array(HubExperiment, { description: 'Active experiments: running first, then in queue order' }),
});
export type QueueStatus = Static<typeof QueueStatus>;

/** What run-now did to the experiment running on the node it needed. */
export const Preemption = Type.Object({
  experiment_id: Type.String({
    description: 'The experiment that was running (its first 8 characters for another user’s)',
  }),
  node: Type.String(),
  status: Type.Literal('cancelled'),
  elapsed_s: Type.Union([Type.Number(), Type.Null()], { description: 'How long it had run' }),
});
export type Preemption = Static<typeof Preemption>;

export const ActionResponse = Type.Object({
  success: Type.Literal(true),
  message: Type.String(),
  experiment: HubExperiment,
  preempted: Type.Optional(
    Type.Union([Preemption, Type.Null()], {
      description: 'run-now only: the running experiment it cancelled to take its node, or null when none was',
    }),
  ),
});

export const NodeInfo = Type.Object({
  name: Type.String(),
  url: Type.String(),
  online: Type.Boolean(),
  last_seen: Timestamp,
  running_experiment: Type.Union([ExperimentId, Type.Null()]),
  detail: Type.Union([Type.String(), Type.Null()], { description: 'Why it is offline, if it is' }),
  unreachable_since: Type.Optional(
    Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
      description: 'Since when the hub cannot reach it (null while it answers)',
    }),
  ),
  max_duration_s: Type.Optional(
    Type.Union([Type.Integer(), Type.Null()], {
      description: 'The longest run it takes, as it advertises (null: not said yet, or an older node)',
    }),
  ),
  twin: Type.Optional(
    Type.Union([Type.Object({ time_scale: Type.Integer(), max_time_scale: Type.Integer() }), Type.Null()], {
      description:
        'A simulation that runs pre-flights at accelerated time, as its /api/status says (null: real hardware, or not said yet)',
    }),
  ),
  storage_problem: Type.Optional(
    Type.Union([Type.String(), Type.Null()], {
      description: 'What the node says is wrong with its disk, e.g. "disk full: …" (null: nothing)',
    }),
  ),
  ready: Type.Optional(
    Type.Boolean({
      description:
        'It can run experiments: online, not drained, its runner and disk fine and its sensors started (it may be busy)',
    }),
  ),
  readiness: Type.Optional(NodeReadinessSchema),
  readiness_detail: Type.Optional(
    Type.Union([Type.String(), Type.Null()], {
      description: 'Why it cannot run experiments, in the words of the node or the hub (null when ready)',
    }),
  ),
  drained: Type.Optional(
    Type.Boolean({ description: 'Drained by an admin: it finishes its run and takes no new ones' }),
  ),
});
export type NodeInfo = Static<typeof NodeInfo>;

/** What checking a script without queueing it found: every problem with its line, or none. */
export const ScriptCheck = Type.Object({
  valid: Type.Boolean({ description: 'It would be queued as it is' }),
  problems: Type.Array(Problem, {
    description: 'Every problem: a script line (syntax, imports, encoding) or a field (max_duration_s)',
  }),
  message: Type.String(),
  max_duration_s: Type.Optional(Type.Integer({ description: 'How long it would be allowed to run' })),
  max_duration_source: Type.Optional(MaxDurationSourceSchema),
});
export type ScriptCheck = Static<typeof ScriptCheck>;

/** A program to preview: the document, or its YAML or JSON text (what `program` of a submission takes). */
export const ProgramPreviewRequest = Type.Object(
  {
    program: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.String()], {
      description: 'The program document (docs/programs.md), or its YAML or JSON text',
    }),
  },
  { additionalProperties: false },
);
export type ProgramPreviewRequest = Static<typeof ProgramPreviewRequest>;

export const ProgramPreviewQueryWithNode = Type.Object({
  hours: Type.Optional(
    Type.Number({ exclusiveMinimum: 0, maximum: 24 * 400, description: 'How far to expand (default 240)' }),
  ),
  node: Type.Optional(Type.String({ description: 'The node to check it against (default: any online node)' })),
});

/**
 * A program checked without queueing it: its shape by the hub, its components by a node, and that node's expanded
 * timeline. An invalid program is an answer (valid false, every problem at its path under `program`), not an error,
 * since an editor asks as the user types.
 */
export const ProgramPreview = Type.Object({
  valid: Type.Boolean({ description: 'It would be queued as it is and the node took it' }),
  problems: Type.Array(Problem, { description: 'Every problem at its path (`program.tracks[0].steps[1].duration`)' }),
  message: Type.String(),
  node: Type.Union([Type.String(), Type.Null()], {
    description: 'The node that checked it against its components and expanded it; null when none is online',
  }),
  timeline: Type.Union([ProgramTimeline, Type.Null()], { description: 'Its timeline; null when not valid' }),
});
export type ProgramPreview = Static<typeof ProgramPreview>;

/** The script an experiment was submitted with, for its owner or an admin (to run it again or edit it). */
export const SubmittedScript = Type.Object({
  experiment_id: ExperimentId,
  name: Type.Union([Type.String(), Type.Null()]),
  script_content: Type.String({ description: 'The script; empty for a program' }),
  kind: Type.Optional(ExperimentKindSchema),
  program: Type.Optional(
    Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()], {
      description: 'The program document, for a program (null for a script)',
    }),
  ),
  max_duration_s: Type.Integer(),
  max_duration_source: Type.Optional(MaxDurationSourceSchema),
});
export type SubmittedScript = Static<typeof SubmittedScript>;

/**
 * A relayed node stream's own event (`node.stream`): the hub's connection to the node opened or broke. `fresh` is
 * on the first event of a follower that could not resume: what follows is the node's current state, and anything
 * between its Last-Event-ID and now is lost.
 */
export const NodeStreamStatus = Type.Object({
  node: Type.String(),
  connected: Type.Boolean(),
  reason: Type.String({ description: 'Why it is down (or `connected`), in the hub’s words' }),
  fresh: Type.Optional(Type.Literal(true)),
});
export type NodeStreamStatus = Static<typeof NodeStreamStatus>;

/** A script submission: a form with the file, JSON, or the script itself as the body. */
const SUBMIT_BODIES = {
  ...scriptBodies(
    {
      ...SUBMISSION_FORM_FIELDS,
      node: formText('Run on this node only', 64),
      script_content: formText('The script as text, instead of a file'),
      program: formText(
        'A program (YAML or JSON text) instead of a script; a file ending in .yaml, .yml or .json is one too',
      ),
      preflight: formText('true: run it as a pre-flight on a simulation twin at accelerated time'),
      time_scale: formText(`The pre-flight's speed-up, 1-${MAX_TIME_SCALE} (default ${DEFAULT_PREFLIGHT_TIME_SCALE})`),
    },
    SubmitExperiment,
    true,
  ),
  'application/yaml': {
    schema: Type.String({ description: 'A program in YAML (docs/programs.md), instead of a script' }),
  },
};

const q = ['queue'];
const asUser = { headers: USER_HEADERS };
const action = (url: string, summary: string, ok: string) =>
  defineRoute({
    method: 'POST',
    url,
    schema: {
      tags: q,
      summary,
      docs: { ok, ...asUser },
      params: IdParams,
      response: {
        200: ActionResponse,
        ...errorResponses('EXPERIMENT_NOT_FOUND', 'INVALID_STATE', 'FORBIDDEN', 'VALIDATION_FAILED'),
      },
    },
  });

export const hubRoutes = withOperationIds({
  health: defineRoute({
    method: 'GET',
    url: '/health',
    schema: {
      tags: ['service'],
      summary: 'Liveness: the database, the nodes online and the notifications',
      docs: { ok: 'The hub answers; `degraded` when no node is online' },
      response: { 200: ServiceHealth },
    },
  }),
  submit: defineRoute({
    method: 'POST',
    url: '/api/experiments/start',
    schema: {
      tags: q,
      summary:
        'Queue a script or a program: JSON {script_content} or {program}, a raw text/x-python or YAML body, or a multipart file',
      description:
        'The script is checked (size, UTF-8, syntax, imports) before it joins the queue; a rejected one answers 422 with every problem and its line. A program (docs/programs.md) is checked against the document’s schema (400 with every problem at its path) and run by the node itself. `preflight` makes it a pre-flight on a simulation twin at accelerated time (docs/preflight.md). With the lab policy BIOREACTOR_REQUIRE_PREFLIGHT, a run on real hardware is refused (403) until the same user’s pre-flight of the same script or program passed. `name`, `max_duration_s`, `node`, `preflight` and `time_scale` come from the JSON body, the form fields or, for a raw body, the query string.',
      docs: {
        ok: 'Queued (or, for a repeated Idempotency-Key, the first experiment as it is now)',
        body: SUBMIT_BODIES,
        query: Type.Object({
          name: Type.Optional(Type.String({ maxLength: 200, description: 'A name for the experiment' })),
          max_duration_s: Type.Optional(
            Type.Integer({ minimum: 1, description: 'Stop it after this many seconds (default: the lab’s)' }),
          ),
          node: Type.Optional(Type.String({ maxLength: 64, description: 'Run on this node only' })),
          preflight: Type.Optional(
            Type.Boolean({ description: 'Run it as a pre-flight on a simulation twin at accelerated time' }),
          ),
          time_scale: Type.Optional(
            Type.Integer({
              minimum: 1,
              maximum: MAX_TIME_SCALE,
              description: `The pre-flight's speed-up (default ${DEFAULT_PREFLIGHT_TIME_SCALE})`,
            }),
          ),
        }),
        headers: [...USER_HEADERS, IDEMPOTENCY_KEY_HEADER],
        responseHeaders: IDEMPOTENCY_REPLAYED,
      },
      response: {
        200: SubmitResponse,
        ...errorResponses(
          'INVALID_JSON',
          'VALIDATION_FAILED',
          'SCRIPT_REJECTED',
          'PAYLOAD_TOO_LARGE',
          'UNSUPPORTED_MEDIA_TYPE',
          'QUEUE_LIMIT_REACHED',
          'NODE_NOT_FOUND',
          'FORBIDDEN',
        ),
      },
    },
  }),
  validate: defineRoute({
    method: 'POST',
    url: '/api/experiments/validate',
    schema: {
      tags: q,
      summary:
        'Check a script as a submission would (size, UTF-8, syntax, imports, max_duration_s) without queueing it',
      docs: {
        ok: '`valid`, and every problem with its line or field',
        examples: { check: { value: { script_content: 'import numpy\nprint(1)\n', max_duration_s: 600 } } },
        ...asUser,
      },
      body: SubmitRequest,
      response: {
        200: ScriptCheck,
        ...errorResponses('VALIDATION_FAILED', 'PAYLOAD_TOO_LARGE', 'NODE_NOT_FOUND'),
      },
    },
  }),
  script: defineRoute({
    method: 'GET',
    url: '/api/experiments/:id/script',
    schema: {
      tags: q,
      summary: 'The script an experiment was submitted with (its owner or an admin)',
      docs: { ok: 'The script, its name and maximum duration', ...asUser },
      params: IdParams,
      response: { 200: SubmittedScript, ...errorResponses('EXPERIMENT_NOT_FOUND', 'FORBIDDEN') },
    },
  }),
  status: defineRoute({
    method: 'GET',
    url: '/api/experiments/:id/status',
    schema: {
      tags: q,
      summary: 'One experiment: its state, place in the queue, estimates and how it ended',
      docs: { ok: 'The experiment', ...asUser },
      params: IdParams,
      response: { 200: Type.Object({ experiment: HubExperiment }), ...errorResponses('EXPERIMENT_NOT_FOUND') },
    },
  }),
  userExperiments: defineRoute({
    method: 'GET',
    url: '/api/experiments/user',
    schema: {
      tags: q,
      summary: 'The caller’s experiments, newest first (archived ones with ?include_archived=true)',
      docs: { ok: 'The experiments of the user in X-Session-ID', ...asUser },
      querystring: Type.Object({
        include_archived: Type.Optional(
          Type.Boolean({ description: 'Also list experiments the retention policy archived' }),
        ),
      }),
      response: { 200: Type.Object({ experiments: Type.Array(HubExperiment) }) },
    },
  }),
  annotate: defineRoute({
    method: 'POST',
    url: '/api/experiments/:id/annotations',
    schema: {
      tags: q,
      summary: 'Set the notes and labels of an experiment (its owner or an admin)',
      docs: {
        ok: 'The experiment with its notes and labels',
        examples: { label: { value: { notes: 'Second inoculum', labels: ['E. coli', 'growth curve'] } } },
        ...asUser,
      },
      params: IdParams,
      body: Annotations,
      response: {
        200: Type.Object({ success: Type.Literal(true), experiment: HubExperiment }),
        ...errorResponses('EXPERIMENT_NOT_FOUND', 'FORBIDDEN', 'VALIDATION_FAILED'),
      },
    },
  }),
  allExperiments: defineRoute({
    method: 'GET',
    url: '/api/experiments',
    schema: {
      tags: q,
      summary: 'Every experiment, newest first, a page at a time, with search and filters (admin)',
      docs: { ok: 'A page of experiments and how many match', ...asUser },
      querystring: Type.Object({
        q: Type.Optional(Type.String({ maxLength: 200, description: 'In the name, id, owner, notes or labels' })),
        status: Type.Optional(ExperimentStateSchema),
        user: Type.Optional(Type.String({ maxLength: 200, description: 'Only this owner (their X-Session-ID)' })),
        label: Type.Optional(Type.String({ maxLength: 40, description: 'Only those with this label' })),
        include_archived: Type.Optional(Type.Boolean()),
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
        offset: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
      }),
      response: { 200: ExperimentPage, ...errorResponses('FORBIDDEN') },
    },
  }),
  remove: defineRoute({
    method: 'DELETE',
    url: '/api/experiments/:id',
    schema: {
      tags: q,
      summary: 'Delete a finished experiment and its results on the node (its owner or an admin)',
      docs: { ok: 'Deleted', ...asUser },
      params: IdParams,
      response: {
        200: Type.Object({
          success: Type.Literal(true),
          message: Type.String(),
          node_files_removed: Type.Boolean({ description: 'false when the node could not be asked (its files stay)' }),
        }),
        ...errorResponses('EXPERIMENT_NOT_FOUND', 'INVALID_STATE', 'FORBIDDEN'),
      },
    },
  }),
  queueStatus: defineRoute({
    method: 'GET',
    url: '/api/queue/status',
    schema: {
      tags: q,
      summary: 'The active queue, the expected wait and the duration policy',
      docs: { ok: 'The queue: running first, then in queue order', ...asUser },
      response: { 200: QueueStatus },
    },
  }),
  cancel: action(
    '/api/experiments/:id/cancel',
    'Cancel (a running one is stopped on its node)',
    'Cancelled; a running experiment stops on its node',
  ),
  pause: action('/api/experiments/:id/pause', 'Hold a queued experiment back', 'Paused'),
  resume: action('/api/experiments/:id/resume', 'Put a paused experiment back in its place', 'Back in the queue'),
  runNow: action(
    '/api/experiments/:id/run-now',
    'Move to the head of the queue (admin); when no node it may use is free, the most recently started run there is cancelled, and the reply says which',
    'At the head of the queue; `preempted` names the run it cancelled, if any',
  ),
  reorder: defineRoute({
    method: 'POST',
    url: '/api/experiments/:id/reorder',
    schema: {
      tags: q,
      summary:
        'Move to a 0-based position among waiting experiments: a user among the places their own experiments hold, an admin anywhere',
      docs: { ok: 'Moved', ...asUser },
      params: IdParams,
      querystring: Type.Object({ new_position: Type.Integer({ minimum: 0 }) }),
      response: { 200: ActionResponse, ...errorResponses('EXPERIMENT_NOT_FOUND', 'INVALID_STATE', 'FORBIDDEN') },
    },
  }),
  download: defineRoute({
    method: 'GET',
    url: '/api/experiments/:id/download',
    schema: {
      tags: q,
      summary: 'The results zip, streamed from the node',
      docs: { ok: 'The zip: output/**, user_script.py and manifest.json', produces: ZIP, ...asUser },
      params: IdParams,
      response: {
        200: Type.String(),
        ...errorResponses('EXPERIMENT_NOT_FOUND', 'FORBIDDEN', 'INVALID_STATE', 'NODE_NOT_FOUND', 'NODE_UNREACHABLE'),
      },
    },
  }),
  logs: defineRoute({
    method: 'GET',
    url: '/api/experiments/:id/logs',
    schema: {
      tags: q,
      summary: 'The node’s logs (?tail=N), or follow them as Server-Sent Events (?follow=true), streamed through',
      docs: {
        ok: 'The last `tail` lines as JSON {status, logs}, or with ?follow=true an event stream',
        query: TailQuery,
        produces: {
          'application/json': {
            schema: Type.Object({ status: Type.Literal('success'), logs: Type.String() }),
          },
          ...EVENT_STREAM,
        },
        ...asUser,
      },
      params: IdParams,
      response: {
        200: Type.Object({}, { additionalProperties: true }),
        ...errorResponses(
          'EXPERIMENT_NOT_FOUND',
          'FORBIDDEN',
          'INVALID_STATE',
          'NODE_NOT_FOUND',
          'NODE_UNREACHABLE',
          'VALIDATION_FAILED',
        ),
      },
    },
  }),
  data: defineRoute({
    method: 'GET',
    url: '/api/experiments/:id/data',
    schema: {
      tags: q,
      summary: 'CSV bytes from ?offset= (X-Next-Offset header), or new rows as Server-Sent Events (?follow=true)',
      docs: {
        ok: 'CSV from `offset` (X-Next-Offset says where to go on), or with ?follow=true an event stream',
        query: DataQuery,
        produces: { 'text/csv': { schema: Type.String() }, ...EVENT_STREAM },
        responseHeaders: {
          [NEXT_OFFSET_HEADER]: { description: 'The offset to ask for next', schema: Type.Integer({ minimum: 0 }) },
        },
        ...asUser,
      },
      params: IdParams,
      response: {
        200: Type.String(),
        ...errorResponses(
          'EXPERIMENT_NOT_FOUND',
          'FORBIDDEN',
          'INVALID_STATE',
          'FILE_NOT_FOUND',
          'NODE_NOT_FOUND',
          'NODE_UNREACHABLE',
          'VALIDATION_FAILED',
        ),
      },
    },
  }),
  series: defineRoute({
    method: 'GET',
    url: '/api/experiments/:id/series',
    schema: {
      tags: q,
      summary:
        'A CSV of the run as a chart: the whole file downsampled min/max per bucket by its node (its owner or an admin)',
      description:
        'Relayed to the node the experiment runs or ran on (its GET /api/experiments/:id/series): each bucket of `bucket_rows` rows gives two points, `[t_first_ms, ...minimum of each column]` and `[t_last_ms, ...maximum of each column]`, so a spike stays visible however long the run. A running run’s series grows; its new rows arrive live on the web server’s stream.',
      docs: { ok: 'The series: columns and points `[t_ms, ...values]`, two per bucket', ...asUser },
      params: IdParams,
      querystring: NodeSeriesQuery,
      response: {
        200: NodeRunSeries,
        ...errorResponses(
          'EXPERIMENT_NOT_FOUND',
          'FORBIDDEN',
          'INVALID_STATE',
          'FILE_NOT_FOUND',
          'NODE_NOT_FOUND',
          'NODE_UNREACHABLE',
          'VALIDATION_FAILED',
        ),
      },
    },
  }),
  programPreview: defineRoute({
    method: 'POST',
    url: '/api/programs/preview',
    schema: {
      tags: q,
      summary: 'Check a program without queueing it and expand its timeline (what each component does when)',
      description:
        'The hub checks the document’s shape, then an online node (`node`, or any) checks it against its components and expands the first `hours` (its POST /api/v3/programs/preview). An invalid program answers 200 with `valid: false` and every problem at its path under `program`. docs/programs.md',
      docs: { ok: '`valid`, the problems, and the timeline', ...asUser },
      body: ProgramPreviewRequest,
      querystring: ProgramPreviewQueryWithNode,
      response: {
        200: ProgramPreview,
        ...errorResponses('VALIDATION_FAILED', 'PAYLOAD_TOO_LARGE', 'NODE_NOT_FOUND', 'NODE_UNREACHABLE'),
      },
    },
  }),
  preflight: defineRoute({
    method: 'GET',
    url: '/api/experiments/:id/preflight',
    schema: {
      tags: q,
      summary: 'A pre-flight’s report: what the culture would have seen on the twin (its owner or an admin)',
      description:
        'Relayed to the node the pre-flight ran on (its GET /api/experiments/:id/preflight); also preflight.json in the download. docs/preflight.md',
      docs: { ok: 'The report', ...asUser },
      params: IdParams,
      response: {
        200: Type.Object({ status: Type.Literal('success'), preflight: PreflightReport }),
        ...errorResponses(
          'EXPERIMENT_NOT_FOUND',
          'FORBIDDEN',
          'INVALID_STATE',
          'FILE_NOT_FOUND',
          'NODE_NOT_FOUND',
          'NODE_UNREACHABLE',
        ),
      },
    },
  }),
  nodes: defineRoute({
    method: 'GET',
    url: '/api/nodes',
    schema: {
      tags: ['nodes'],
      summary: 'The nodes the hub drives: online, running what, their disk and longest run',
      docs: { ok: 'Every registered node' },
      response: { 200: Type.Object({ nodes: Type.Array(NodeInfo) }) },
    },
  }),
  addNode: defineRoute({
    method: 'POST',
    url: '/api/nodes',
    schema: {
      tags: ['nodes'],
      summary: 'Register a node at runtime (admin)',
      docs: {
        ok: 'Registered',
        examples: { node2: { summary: 'A second node', value: { name: 'node2', url: 'http://node2.lab:9000' } } },
        ...asUser,
      },
      body: Type.Object({
        name: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }),
        url: Type.String({ format: 'uri' }),
      }),
      response: { 200: NodeInfo, ...errorResponses('VALIDATION_FAILED', 'FORBIDDEN', 'INVALID_STATE') },
    },
  }),
  drainNode: defineRoute({
    method: 'POST',
    url: '/api/nodes/:name/drain',
    schema: {
      tags: ['nodes'],
      summary:
        'Drain a node (admin): it finishes the run it has and takes no new ones; `drained: false` enables it again',
      docs: { ok: 'The node as it is now', examples: { drain: { value: { drained: true } } }, ...asUser },
      params: Type.Object({ name: Type.String() }),
      body: Type.Object({ drained: Type.Boolean() }),
      response: { 200: NodeInfo, ...errorResponses('NODE_NOT_FOUND', 'FORBIDDEN', 'VALIDATION_FAILED') },
    },
  }),
  removeNode: defineRoute({
    method: 'DELETE',
    url: '/api/nodes/:name',
    schema: {
      tags: ['nodes'],
      summary: 'Unregister a node (admin); not while it runs an experiment',
      docs: { ok: 'Unregistered', ...asUser },
      params: Type.Object({ name: Type.String() }),
      response: {
        200: Type.Object({ success: Type.Literal(true), message: Type.String() }),
        ...errorResponses('NODE_NOT_FOUND', 'FORBIDDEN', 'INVALID_STATE'),
      },
    },
  }),
  nodeStream: defineRoute({
    method: 'GET',
    url: '/api/nodes/:name/stream',
    schema: {
      tags: ['nodes'],
      summary:
        'Server-Sent Events: the node’s live stream relayed as the node sends it, plus node.stream when the hub’s connection to it opens or breaks (the web server, or an admin)',
      description:
        'Every follower shares the hub’s one connection to the node (GET /api/v3/stream on the node), which the hub opens again after a break, resuming with the node’s Last-Event-ID. The node’s events (component.sample, component.changed, safety, run.updated, run.rows) come with their data exactly as the node sent it, under the hub’s ids `<epoch>-<seq>`. A follower resuming with Last-Event-ID (or `?last_event_id=`) gets exactly the events it missed while the hub still holds them (the last 2,000); otherwise it starts afresh: node.stream `{node, connected, reason, fresh: true}`, then the node’s latest states. The stream ends when the node is removed from the hub. It carries every user’s rows: a user who is not an admin is refused.',
      docs: {
        ok: 'An event stream: the node’s events and node.stream {node, connected, reason}',
        produces: EVENT_STREAM,
        ...asUser,
      },
      params: Type.Object({ name: Type.String() }),
      querystring: Type.Object({
        last_event_id: Type.Optional(
          Type.String({ maxLength: 100, description: 'Resume after this event (as the Last-Event-ID header)' }),
        ),
      }),
      response: { 200: Type.String(), ...errorResponses('NODE_NOT_FOUND', 'FORBIDDEN', 'VALIDATION_FAILED') },
    },
  }),
  events: defineRoute({
    method: 'GET',
    url: '/api/events',
    schema: {
      tags: q,
      summary: 'Server-Sent Events of queue, experiment and node changes',
      docs: {
        ok: 'An event stream: queue.updated, experiment.updated, node.updated',
        produces: EVENT_STREAM,
        ...asUser,
      },
      response: { 200: Type.String() },
    },
  }),
  exportQueue: defineRoute({
    method: 'GET',
    url: '/api/queue/export',
    schema: {
      tags: q,
      summary: 'The queue as the original experiment_queue.json (admin: it holds every script)',
      docs: { ok: 'experiment_queue.json', ...asUser },
      response: { 200: Type.Object({}, { additionalProperties: true }), ...errorResponses('FORBIDDEN') },
    },
  }),
  importQueue: defineRoute({
    method: 'POST',
    url: '/api/queue/import',
    schema: {
      tags: q,
      summary: 'Take over an original installation’s experiment_queue.json, once (admin)',
      docs: {
        ok: 'Imported; `skipped` lists the ids already known',
        examples: {
          one: {
            summary: 'One queued experiment',
            value: {
              experiments: {
                'exp-1': { experiment_id: 'exp-1', script_content: EXAMPLE_SCRIPT, status: 'queued', user_id: 'alice' },
              },
              queue_order: ['exp-1'],
            },
          },
        },
        ...asUser,
      },
      body: Type.Object({
        experiments: Type.Record(Type.String(), Type.Object({}, { additionalProperties: true })),
        queue_order: Type.Optional(Type.Array(Type.String())),
      }),
      response: {
        200: Type.Object({
          success: Type.Literal(true),
          imported: Type.Integer(),
          skipped: Type.Array(Type.String()),
          message: Type.String(),
        }),
        ...errorResponses('VALIDATION_FAILED', 'FORBIDDEN'),
      },
    },
  }),
  transferUser: defineRoute({
    method: 'POST',
    url: '/api/users/transfer',
    schema: {
      tags: q,
      summary:
        'Give every experiment of one user id to another (admin): the web server files a browser’s anonymous experiments under the account it signs in to',
      docs: {
        ok: 'Moved; `moved` counts the experiments',
        examples: { signIn: { value: { from_user: 'browser-session-id', to_user: 'account-alice' } } },
        ...asUser,
      },
      body: Type.Object({
        from_user: Type.String({ minLength: 1, maxLength: 200, description: 'The X-Session-ID they are filed under' }),
        to_user: Type.String({ minLength: 1, maxLength: 200, description: 'The X-Session-ID to file them under' }),
      }),
      response: {
        200: Type.Object({ success: Type.Literal(true), moved: Type.Integer({ minimum: 0 }), message: Type.String() }),
        ...errorResponses('VALIDATION_FAILED', 'FORBIDDEN'),
      },
    },
  }),
});
