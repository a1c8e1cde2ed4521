// How experiments and the queue look to a caller: positions, estimates, and other users' ids kept private.
import type { HubExperiment, QueueStatus } from '@bioreactor/api';
import type { NodeRegistry } from '../nodes/registry.js';
import { type Estimates, estimate } from './estimates.js';
import type { ExperimentQueue, ExperimentSummary } from './queue.js';

/** Who is asking: a user (from X-Session-ID) or an operator (no user: the guide's bare commands, or the web server). */
export interface Viewer {
  userId: string | null;
  admin: boolean;
}

export const OPERATOR: Viewer = { userId: null, admin: true };

/** Shown instead of another user's session id, which is a credential in the guide's model. */
export const HIDDEN_USER = 'another user';

/** A queue summary is reused this long at most (its estimates move with the clock); any change drops it. */
const SUMMARY_TTL_MS = 1000;

export class QueueViews {
  private readonly summaries = new Map<string, { at: number; value: QueueStatus }>();

  constructor(
    private readonly queue: ExperimentQueue,
    private readonly registry: NodeRegistry,
  ) {
    const drop = () => this.summaries.clear();
    queue.on('experiment', drop);
    queue.on('swept', drop);
    registry.on('node', drop);
    registry.on('removed', drop);
  }

  estimates(running = this.queue.running(), waiting = this.queue.waiting()): Estimates {
    const online = this.registry.onlineNames();
    // With every node away, estimate as if they were back: better than no figure at all.
    const nodes = online.length > 0 ? online : this.registry.list().map((n) => n.name);
    return estimate({
      now: this.queue.now(),
      running,
      waiting,
      onlineNodes: nodes,
      medianS: this.queue.medianRunSeconds(),
    });
  }

  experiment(
    row: ExperimentSummary,
    viewer: Viewer,
    ctx?: { position: number | null; estimates: Estimates },
  ): HubExperiment {
    const own = viewer.admin || viewer.userId === row.user_id;
    const position = ctx ? ctx.position : this.queue.position(row);
    let estimated: number | undefined;
    if (row.status === 'queued') estimated = (ctx?.estimates ?? this.estimates()).startAt.get(row.id);
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
      estimated_start: estimated === undefined ? null : new Date(estimated).toISOString(),
    };
  }

  list(rows: ExperimentSummary[], viewer: Viewer): HubExperiment[] {
    const estimates = this.estimates();
    const positions = new Map(this.queue.waiting().map((r, i) => [r.id, i + 1]));
    return rows.map((r) => this.experiment(r, viewer, { position: positions.get(r.id) ?? null, estimates }));
  }

  /** The queue as `viewer` sees it; dashboards poll this, so one summary serves every poll until something changes. */
  queueStatus(viewer: Viewer): QueueStatus {
    const key = viewer.admin ? '\u0000admin' : (viewer.userId ?? '');
    const now = this.queue.now();
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
    const now = this.queue.now();
    const wait = estimates.nextSlotAt === null ? 0 : Math.max(0, estimates.nextSlotAt - now) / 60_000;
    return {
      total_queued: counts.queued,
      total_running: counts.running,
      total_paused: counts.paused,
      estimated_wait_minutes: Math.round(wait * 10) / 10,
      queue,
    };
  }
}
