// The one duration policy: how long an experiment may run, what it gets when it declares nothing, and what the
// nodes advertise. The hub applies it when a script is submitted; the node enforces the number it is sent.
import { type Static, Type } from 'typebox';

/** setTimeout's largest delay (2^31-1 ms, about 24.8 days): longer waits are chained or polled, never passed whole. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** No max_duration_s anywhere may be longer than this: 366 days. */
export const MAX_DURATION_CEILING_S = 366 * 24 * 3600;

/** Where an experiment's max_duration_s came from. */
export const MAX_DURATION_SOURCES = Object.freeze({
  /** The submission declared it. */
  declared: 'declared',
  /** The lab's BIOREACTOR_DEFAULT_MAX_DURATION_S (capped by the limit below). */
  lab_default: 'lab_default',
  /** No declaration and no lab default: the longest the hub and its nodes allow. */
  limit: 'limit',
} as const);
export type MaxDurationSource = (typeof MAX_DURATION_SOURCES)[keyof typeof MAX_DURATION_SOURCES];
export const MaxDurationSourceSchema = Type.Enum(Object.values(MAX_DURATION_SOURCES) as MaxDurationSource[], {
  description: 'declared | lab_default | limit',
});

/** What a node advertises in `GET /api/status`, so the hub can refuse at submission what it would refuse later. */
/** The largest speed-up a pre-flight run on a simulation twin may ask for (one simulated hour per wall second). */
export const MAX_TIME_SCALE = 3600;

export const ExperimentLimits = Type.Object({
  max_duration_s: Type.Integer({
    minimum: 1,
    description: 'Largest max_duration_s this node runs (its BIOREACTOR_EXPERIMENT_MAX_DURATION_S)',
  }),
  twin: Type.Optional(
    Type.Object(
      {
        time_scale: Type.Integer({
          minimum: 1,
          description: 'How many times faster than the wall clock its simulated time runs between runs (1: real time)',
        }),
        max_time_scale: Type.Integer({ description: `Largest time_scale a run may ask for (${MAX_TIME_SCALE})` }),
      },
      {
        description:
          'Present when the node is a simulation (a twin): a run may ask for time_scale, a pre-flight (docs/preflight.md)',
      },
    ),
  ),
});
export type ExperimentLimits = Static<typeof ExperimentLimits>;

/** The policy as the hub applies it at this moment (in `GET /api/queue/status`). */
export const DurationPolicy = Type.Object({
  max_duration_s: Type.Integer({
    description: 'Largest max_duration_s a submission may declare now: the hub’s limit and the longest any node runs',
  }),
  limited_by: Type.String({
    description: 'Which setting sets that limit, e.g. "node pi-1 (BIOREACTOR_EXPERIMENT_MAX_DURATION_S)"',
  }),
  default_max_duration_s: Type.Integer({ description: 'What a submission that declares no max_duration_s gets' }),
  default_source: MaxDurationSourceSchema,
  node_limits_known: Type.Boolean({
    description: 'false while a node that may run experiments has not advertised its limit (only the hub’s applies)',
  }),
});
export type DurationPolicy = Static<typeof DurationPolicy>;

/** One node's advertised limit; null when it has not said (not contacted yet, or an older node). */
export interface NodeDurationLimit {
  name: string;
  maxDurationS: number | null;
}

export interface DurationPolicyInput {
  /** The hub's own largest max_duration_s (BIOREACTOR_MAX_DURATION_LIMIT_S). */
  hubLimitS: number;
  /** The nodes that may run the experiment (the pinned one, or all). */
  nodes: NodeDurationLimit[];
  /** BIOREACTOR_DEFAULT_MAX_DURATION_S, when the lab set it. */
  labDefaultS?: number | undefined;
}

/** 90 → "90 s", 5400 → "1 h 30 min", 2592000 → "30 d". */
export function formatSeconds(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ''}`;
  if (s < 3 * 86400) {
    const m = Math.floor((s % 3600) / 60);
    return `${Math.floor(s / 3600)} h${m ? ` ${m} min` : ''}`;
  }
  const h = Math.floor((s % 86400) / 3600);
  return `${Math.floor(s / 86400)} d${h ? ` ${h} h` : ''}`;
}

/**
 * The limit and the default now. The limit is the hub's, lowered to the longest any of the nodes runs when every one
 * of them has said; a node that has not said cannot be ruled out, so then only the hub's limit applies.
 */
export function durationPolicy(input: DurationPolicyInput): DurationPolicy {
  let max = Math.min(input.hubLimitS, MAX_DURATION_CEILING_S);
  let limitedBy = 'this hub (BIOREACTOR_MAX_DURATION_LIMIT_S)';
  const known = input.nodes.length > 0 && input.nodes.every((n) => n.maxDurationS !== null);
  if (known) {
    const longest = input.nodes.reduce((a, b) => ((b.maxDurationS ?? 0) > (a.maxDurationS ?? 0) ? b : a));
    const nodeMax = longest.maxDurationS ?? max;
    if (nodeMax < max) {
      max = nodeMax;
      limitedBy =
        input.nodes.length === 1
          ? `node ${longest.name} (BIOREACTOR_EXPERIMENT_MAX_DURATION_S)`
          : `the nodes (the longest, ${longest.name}, allows this; BIOREACTOR_EXPERIMENT_MAX_DURATION_S)`;
    }
  }
  const lab = input.labDefaultS;
  return {
    max_duration_s: max,
    limited_by: limitedBy,
    default_max_duration_s: lab === undefined ? max : Math.min(lab, max),
    default_source: lab === undefined ? 'limit' : 'lab_default',
    node_limits_known: known,
  };
}

export type DurationDecision =
  | { ok: true; max_duration_s: number; source: MaxDurationSource; message: string }
  | { ok: false; limit_s: number; message: string };

/** The max_duration_s a submission gets, or why it is refused (a declared duration above the limit). */
export function decideMaxDuration(declared: number | undefined, input: DurationPolicyInput): DurationDecision {
  const policy = durationPolicy(input);
  if (declared !== undefined) {
    if (declared > policy.max_duration_s) {
      return {
        ok: false,
        limit_s: policy.max_duration_s,
        message: `max_duration_s ${declared} (${formatSeconds(declared)}) is longer than ${policy.limited_by} allows: at most ${policy.max_duration_s} s (${formatSeconds(policy.max_duration_s)}); declare a shorter run or ask the lab to raise the limit`,
      };
    }
    return {
      ok: true,
      max_duration_s: declared,
      source: 'declared',
      message: `it may run up to ${formatSeconds(declared)} (declared)`,
    };
  }
  const lab = input.labDefaultS;
  const capped = lab !== undefined && lab > policy.max_duration_s;
  return {
    ok: true,
    max_duration_s: policy.default_max_duration_s,
    source: policy.default_source,
    message:
      policy.default_source === 'lab_default'
        ? `no max_duration_s was declared, so it may run up to ${formatSeconds(policy.default_max_duration_s)} (the lab's default BIOREACTOR_DEFAULT_MAX_DURATION_S${capped ? `, capped by ${policy.limited_by}` : ''})`
        : `no max_duration_s was declared, so it may run up to ${formatSeconds(policy.default_max_duration_s)} (the longest ${policy.limited_by} allows)`,
  };
}
