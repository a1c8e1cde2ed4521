// Tells the lab when an experiment ends: a JSON POST to BIOREACTOR_NOTIFY_URL (a Slack or Mattermost incoming webhook,
// ntfy, or any endpoint) with a readable `text` and the experiment's record. Each end is written to SQLite first and
// delivered from there, with retries that back off, so neither a receiver that is down nor a hub killed mid-send
// loses one. The owner is named only for accounts; an anonymous browser's session id is a credential and never sent.
import { EventEmitter } from 'node:events';
import {
  accountOfHubUser,
  EXPERIMENT_STATES,
  type ExperimentState,
  FINAL_STATES,
  SYSTEM_VERSION,
} from '@bioreactor/api';
import { timerDelay } from '../clock.js';
import type { ExperimentQueue, ExperimentSummary } from '../queue/queue.js';
import type { Db } from '../queue/store.js';

export interface NotifierLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface WebhookNotifierOptions {
  url: string;
  /** First retry delay; each further one doubles, up to an hour. */
  retryMs: number;
  log: NotifierLogger;
  /** Wall clock: the created_at people read. */
  now: () => number;
  /** Timeline ms (monotonic): when retries are due, so a wall-clock step neither floods nor stalls them. */
  mono?: () => number;
  timeoutMs?: number;
}

/** Attempts before a notification is given up (about two and a half hours with the default 5 s first delay). */
export const MAX_ATTEMPTS = 12;
/** Ends this recent that have no notification row are sent at start: the hub stopped between the two writes. */
const BACKFILL_MS = 10 * 60_000;
const MAX_RETRY_MS = 3600_000;

export interface ExperimentEndPayload {
  event: 'experiment.ended';
  text: string;
  experiment: {
    experiment_id: string;
    name: string | null;
    owner: string | null;
    status: ExperimentState;
    node: string | null;
    created_at: string;
    started_at: string | null;
    completed_at: string | null;
    exit_code: number | null;
    error_message: string | null;
  };
}

function duration(row: ExperimentSummary): string {
  if (!row.started_at || !row.completed_at) return '';
  const s = Math.max(0, Math.round((Date.parse(row.completed_at) - Date.parse(row.started_at)) / 1000));
  const text =
    s < 60
      ? `${s} s`
      : s < 3600
        ? `${Math.floor(s / 60)} min ${s % 60} s`
        : `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return ` after ${text}`;
}

export function endPayload(row: ExperimentSummary): ExperimentEndPayload {
  const owner = accountOfHubUser(row.user_id);
  const label = `${row.name ? `'${row.name}' ` : ''}(${row.id.slice(0, 8)})`;
  const where = row.node ? ` on ${row.node}` : '';
  const why =
    row.status === EXPERIMENT_STATES.completed || !row.error_message ? '' : `: ${row.error_message.slice(0, 300)}`;
  return {
    event: 'experiment.ended',
    text: `Experiment ${label}${owner ? ` of ${owner}` : ''} ${row.status}${duration(row)}${where}${why}`,
    experiment: {
      experiment_id: row.id,
      name: row.name,
      owner,
      status: row.status,
      node: row.node,
      created_at: row.created_at,
      started_at: row.started_at,
      completed_at: row.completed_at,
      exit_code: row.exit_code,
      error_message: row.error_message,
    },
  };
}

/** Every end but a cancellation before the start: withdrawing a queued experiment is no news to anyone. */
function isNotifiedEnd(row: ExperimentSummary): boolean {
  if (!FINAL_STATES.includes(row.status)) return false;
  return !(row.status === EXPERIMENT_STATES.cancelled && row.started_at === null);
}

interface PendingRow {
  id: number;
  experiment_id: string;
  payload: string;
  attempts: number;
}

/** `attempt` after each delivery attempt, once its outcome is recorded. */
export class WebhookNotifier extends EventEmitter<{ attempt: [{ experimentId: string; delivered: boolean }] }> {
  private timer: NodeJS.Timeout | undefined;
  private sending = false;
  private stopped = false;
  // Every end, once, as it is recorded (an end learned from a node after an outage carries the node's earlier times).
  private readonly onEnded = (row: ExperimentSummary) => {
    if (isNotifiedEnd(row)) this.record(row);
  };
  private readonly mono: () => number;

  constructor(
    private readonly db: Db,
    private readonly queue: ExperimentQueue,
    private readonly opts: WebhookNotifierOptions,
  ) {
    super();
    this.mono = opts.mono ?? opts.now;
  }

  start(): void {
    this.stopped = false;
    this.queue.on('ended', this.onEnded);
    // Ends recorded just before a stop, whose notification row was not written yet.
    const since = new Date(this.opts.now() - BACKFILL_MS).toISOString();
    const missed = this.db
      .prepare(
        `SELECT * FROM experiments e WHERE e.updated_at >= ? AND e.status IN (${FINAL_STATES.map(() => '?').join(', ')})
         AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.experiment_id = e.id AND n.status = e.status)`,
      )
      .all(since, ...FINAL_STATES) as ExperimentSummary[];
    for (const row of missed) if (isNotifiedEnd(row)) this.record(row);
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    this.queue.off('ended', this.onEnded);
    clearTimeout(this.timer);
  }

  /** Notifications not yet delivered nor given up. */
  pending(): number {
    return (
      this.db
        .prepare('SELECT COUNT(*) AS n FROM notifications WHERE delivered_at IS NULL AND attempts < ?')
        .get(MAX_ATTEMPTS) as { n: number }
    ).n;
  }

  /** For the hub's /health: failing when a notification waits for a retry, with the receiver's last answer. */
  health(): { ok: boolean; message: string } {
    const waiting = this.db
      .prepare(
        `SELECT COUNT(*) AS n, SUM(attempts > 0) AS failing,
           (SELECT last_error FROM notifications WHERE delivered_at IS NULL AND attempts > 0 AND attempts < ?
            ORDER BY id DESC LIMIT 1) AS error
         FROM notifications WHERE delivered_at IS NULL AND attempts < ?`,
      )
      .get(MAX_ATTEMPTS, MAX_ATTEMPTS) as { n: number; failing: number | null; error: string | null };
    if (!waiting.failing) return { ok: true, message: `${waiting.n} waiting to be sent to ${this.opts.url}` };
    return {
      ok: false,
      message: `${waiting.failing} of ${waiting.n} waiting after a failed delivery to ${this.opts.url} (last: ${waiting.error})`,
    };
  }

  /** Whether the end of this experiment has been delivered. */
  isDelivered(experimentId: string): boolean {
    return (
      this.db
        .prepare('SELECT 1 FROM notifications WHERE experiment_id = ? AND delivered_at IS NOT NULL')
        .get(experimentId) !== undefined
    );
  }

  private record(row: ExperimentSummary): void {
    const inserted = this.db
      .prepare(
        `INSERT OR IGNORE INTO notifications (experiment_id, status, payload, created_at, next_attempt_ms)
         VALUES (?, ?, ?, ?, ?)`,
      )
      .run(row.id, row.status, JSON.stringify(endPayload(row)), new Date(this.opts.now()).toISOString(), this.mono());
    if (inserted.changes > 0) this.schedule(0);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.deliverDue(), timerDelay(delayMs));
    this.timer.unref();
  }

  private async deliverDue(): Promise<void> {
    if (this.sending || this.stopped) return;
    this.sending = true;
    try {
      while (!this.stopped) {
        const due = this.db
          .prepare(
            `SELECT id, experiment_id, payload, attempts FROM notifications
             WHERE delivered_at IS NULL AND attempts < ? AND next_attempt_ms <= ? ORDER BY id LIMIT 20`,
          )
          .all(MAX_ATTEMPTS, this.mono()) as PendingRow[];
        if (due.length === 0) break;
        for (const row of due) if (!this.stopped) await this.deliver(row);
      }
    } finally {
      this.sending = false;
    }
    if (this.stopped) return;
    const next = this.db
      .prepare('SELECT MIN(next_attempt_ms) AS at FROM notifications WHERE delivered_at IS NULL AND attempts < ?')
      .get(MAX_ATTEMPTS) as { at: number | null };
    if (next.at !== null) this.schedule(Math.max(0, next.at - this.mono()));
  }

  private async deliver(row: PendingRow): Promise<void> {
    let error: string | null = null;
    try {
      const res = await fetch(this.opts.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': `bioreactor-hub/${SYSTEM_VERSION}` },
        body: row.payload,
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (!res.ok) error = `HTTP ${res.status}`;
    } catch (err) {
      error = (err as Error).message;
    }
    if (this.stopped) return;
    if (error === null) {
      this.db
        .prepare('UPDATE notifications SET delivered_at = ?, attempts = attempts + 1, last_error = NULL WHERE id = ?')
        .run(new Date(this.opts.now()).toISOString(), row.id);
      this.emit('attempt', { experimentId: row.experiment_id, delivered: true });
      return;
    }
    const attempts = row.attempts + 1;
    const delay = Math.min(MAX_RETRY_MS, this.opts.retryMs * 2 ** (attempts - 1));
    this.db
      .prepare('UPDATE notifications SET attempts = ?, next_attempt_ms = ?, last_error = ? WHERE id = ?')
      .run(attempts, this.mono() + delay, error, row.id);
    const context = { experiment_id: row.experiment_id, attempts, error };
    if (attempts >= MAX_ATTEMPTS) this.opts.log.error(context, 'gave up a webhook notification');
    else this.opts.log.warn(context, 'webhook notification failed; it will be retried');
    this.emit('attempt', { experimentId: row.experiment_id, delivered: false });
  }
}
