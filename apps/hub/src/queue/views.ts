// How experiments and the queue look to a caller: positions, estimates, and other users' ids kept private.
import type { HubExperiment, QueueStatus } from '@bioreactor/api';
import { type NodeEntry, type NodeRegistry, readinessOf } from '../nodes/registry.js';
import type { HubDurations } from './duration-policy.js';
import { type DurationEstimate, type Estimates, estimate, expectedDuration } from './estimates.js';
import type { ExperimentQueue, ExperimentSummary } from './queue.js';

/** Who is asking: a user (from X-Session-ID) or an operator (no user: the guide's bare commands, or the web server). */
export interface Viewer {
  userId: string | null;
  admin: boolean;
}

export const OPERATOR: Viewer = { userId: null, admin: true };

/** Shown instead of another user's session id, which is a credential in the guide's model. */
export const HIDDEN_USER = 'another user';

function parseLabels(text: string | null): string[] {
  if (!text) return [];
  try {
    const list: unknown = JSON.parse(text);
    return Array.isArray(list) ? list.filter((l): l is string => typeof l === 'string') : [];
  } catch {
    return [];
  }
}

/** Whether a node may run this experiment's speed-up: any node a run, a twin that goes as fast a pre-flight. */
function takesSpeedUp(node: NodeEntry, row: ExperimentSummary): boolean {
  return row.time_scale === null || (node.twin !== null && row.time_scale <= node.twin.maxTimeScale);
}

/** A queue summary is reused this long at most (its estimates move with the clock); any change drops it. */
const SUMMARY_TTL_MS = 1000;

export class QueueViews {
  private readonly summaries = new Map<string, { at: number; value: QueueStatus }>();

  constructor(
    private readonly queue: ExperimentQueue,
    private readonly registry: NodeRegistry,
    private readonly durations: HubDurations,
    /** The wall-clock moment a timeline instant corresponds to, as the wall clock reads now. */
    private readonly wallAt: (t: number) => number = (t) => t,
  ) {
    const drop = () => this.summaries.clear();
    queue.on('experiment', drop);
    queue.on('swept', drop);
    registry.on('node', drop);
    registry.on('removed', drop);
  }

  estimates(running = this.queue.running(), waiting = this.queue.waiting()): Estimates {
    const online = this.registry.list().filter((n) => n.online === true);
    // With every node away, estimate as if they were back: better than no figure at all.
    const nodes = online.length > 0 ? online : this.registry.list();
    return estimate({
      now: this.queue.mono(),
      running: running.map((row) => ({ row, elapsedMs: this.queue.elapsedMs(row) ?? 0 })),
      waiting,
      nodes: nodes.map((n) => ({ name: n.name, maxDurationS: n.maxDurationS })),
      history: this.queue,
    });
  }

  private iso(t: number | undefined): string | null {
    return t === undefined ? null : new Date(this.wallAt(t)).toISOString();
  }

  experiment(
    row: ExperimentSummary,
    viewer: Viewer,
    ctx?: { position: number | null; estimates: Estimates },
  ): HubExperiment {
    const own = viewer.admin || viewer.userId === row.user_id;
    const position = ctx ? ctx.position : this.queue.position(row);
    const active = row.status === 'queued' || row.status === 'running' || row.status === 'paused';
    const estimates =
      row.status === 'queued' || row.status === 'running' ? (ctx?.estimates ?? this.estimates()) : undefined;
    const d: DurationEstimate | undefined = active
      ? (estimates?.durations.get(row.id) ?? expectedDuration(row, this.queue))
      : undefined;
    const start = row.status === 'queued' ? estimates?.startAt.get(row.id) : undefined;
    const end = estimates?.endAt.get(row.id);
    const elapsed = this.queue.elapsedMs(row);
    const node = row.status === 'running' && row.node ? this.registry.get(row.node) : undefined;
    const unreachableSince =
      node && node.online === false && node.offlineSince !== null ? new Date(node.offlineSince).toISOString() : null;
    let note: string | null = null;
    if (unreachableSince && node) {
      note = `Node ${node.name} has not answered since ${unreachableSince}; the run is presumed to go on there, and how it ended will be taken from the node's own record when it answers`;
    } else if (row.status === 'queued' && estimates && (!start || !this.someNodeCanRun(row))) {
      note = this.whyNoNode(row);
    }
    return {
      experiment_id: row.id,
      name: row.name,
      user_session_id: own ? row.user_id : HIDDEN_USER,
      status: row.status,
      queue_position: position,
      node: row.node ?? row.node_pin,
      created_at: row.created_at,
      started_at: row.started_at,
      completed_at: row.completed_at,
      exit_code: row.exit_code,
      error_message: row.error_message,
      max_duration_s: row.max_duration_s,
      estimated_start: this.iso(start?.p50),
      max_duration_source: row.max_duration_source,
      elapsed_s: elapsed === null ? null : Math.round(elapsed / 100) / 10,
      expected_duration_s: d?.p50S == null ? null : Math.round(d.p50S),
      expected_duration_p90_s: d ? Math.round(d.p90S) : null,
      estimate_basis: d ? d.basis : null,
      estimated_start_p90: this.iso(start?.p90),
      estimated_end: this.iso(end?.p50),
      estimated_end_p90: this.iso(end?.p90),
      node_unreachable_since: unreachableSince,
      note,
      preempted_by: this.preemptedBy(row, viewer),
      archived_at: row.archived_at,
      kind: row.kind,
      preflight:
        row.time_scale === null
          ? null
          : { time_scale: row.time_scale, passed: row.preflight_passed === null ? null : row.preflight_passed === 1 },
      ...(own ? { notes: row.notes, labels: parseLabels(row.labels) } : {}),
    };
  }

  /** Whether a node it may use can run experiments now (it may be busy). */
  private someNodeCanRun(row: ExperimentSummary): boolean {
    return this.registry
      .list()
      .some((n) => (row.node_pin === null || n.name === row.node_pin) && readinessOf(n).ready && takesSpeedUp(n, row));
  }

  /** Why no node can run experiments now, node by node ("pi-1: disk full: …"), or null when one can. */
  notReadyReason(): string | null {
    const nodes = this.registry.list();
    if (nodes.length === 0) return 'no node is registered with the hub';
    if (nodes.some((n) => readinessOf(n).ready)) return null;
    return nodes.map((n) => `${n.name}: ${readinessOf(n).readiness_detail}`).join('; ');
  }

  /** Why a queued experiment has no expected start: no node it may use, or none that takes its duration. */
  private whyNoNode(row: ExperimentSummary): string {
    const nodes = this.registry.list().filter((n) => row.node_pin === null || n.name === row.node_pin);
    if (row.time_scale !== null && !nodes.some((n) => takesSpeedUp(n, row)))
      return `A pre-flight at ${row.time_scale}× runs only on a simulation twin that takes that speed-up (its /api/status shows experiment_limits.twin), and no node it may use is one now; it waits for one, or cancel it and submit it again without preflight to run it on real hardware`;
    if (nodes.length > 0 && !nodes.some((n) => readinessOf(n).ready))
      return `No node it may use can run experiments now (${nodes.map((n) => `${n.name}: ${readinessOf(n).readiness_detail}`).join('; ')}); it waits until one can`;
    const limits = nodes.map((n) => n.maxDurationS);
    if (nodes.length > 0 && limits.every((l) => l !== null && l < row.max_duration_s)) {
      const longest = Math.max(...(limits as number[]));
      return `Its max_duration_s of ${row.max_duration_s} s is longer than any node it may use takes now (the longest: ${longest} s); it waits until one does, or cancel it and submit it with a shorter max_duration_s`;
    }
    return 'No node it may use answers now; it waits for one';
  }

  /** The experiment that took this one's node: its whole id for its owner or an admin, else its first 8 characters. */
  private preemptedBy(row: ExperimentSummary, viewer: Viewer): string | null {
    if (row.preempted_by === null) return null;
    if (viewer.admin || this.queue.get(row.preempted_by)?.user_id === viewer.userId) return row.preempted_by;
    return row.preempted_by.slice(0, 8);
  }

  list(rows: ExperimentSummary[], viewer: Viewer): HubExperiment[] {
    const estimates = this.estimates();
    const positions = new Map(this.queue.waiting().map((r, i) => [r.id, i + 1]));
    return rows.map((r) => this.experiment(r, viewer, { position: positions.get(r.id) ?? null, estimates }));
  }

  /** The queue as `viewer` sees it; dashboards poll this, so one summary serves every poll until something changes. */
  queueStatus(viewer: Viewer): QueueStatus {
    const key = viewer.admin ? '\u0000admin' : (viewer.userId ?? '');
    const now = this.queue.mono();
    const cached = this.summaries.get(key);
    if (cached && now - cached.at < SUMMARY_TTL_MS && now >= cached.at) return cached.value;
    if (this.summaries.size > 1000) this.summaries.clear();
    const value = this.buildQueueStatus(viewer);
    this.summaries.set(key, { at: now, value });
    return value;
  }

  private buildQueueStatus(viewer: Viewer): QueueStatus {
    const running = this.queue.running();
    const waiting = this.queue.waiting();
    const estimates = this.estimates(running, waiting);
    const counts = { running: running.length, queued: 0, paused: 0 };
    for (const r of waiting) counts[r.status === 'paused' ? 'paused' : 'queued']++;
    // Running first, longest-running first; then the line.
    running.sort((a, b) => (a.started_at ?? '').localeCompare(b.started_at ?? ''));
    let position = 0;
    const queue = running.concat(waiting).map((r) => {
      const waiting = r.status === 'queued' || r.status === 'paused';
      if (waiting) position++;
      return this.experiment(r, viewer, { position: waiting ? position : null, estimates });
    });
    const now = this.queue.mono();
    const minutes = (at: number | undefined) =>
      at === undefined ? 0 : Math.round((Math.max(0, at - now) / 60_000) * 10) / 10;
    return {
      total_queued: counts.queued,
      total_running: counts.running,
      total_paused: counts.paused,
      estimated_wait_minutes: minutes(estimates.nextSlotAt?.p50),
      estimated_wait_p90_minutes: minutes(estimates.nextSlotAt?.p90),
      duration_policy: this.durations.policy(),
      retention: this.queue.retention
        ? { action: this.queue.retention.action, after_s: Math.round(this.queue.retention.afterMs / 1000) }
        : null,
      nodes_ready: this.registry.list().filter((n) => readinessOf(n).ready).length,
      nodes_total: this.registry.list().length,
      not_ready_reason: this.notReadyReason(),
      queue,
    };
  }
}
