// The durable experiment queue: every state change is one SQLite transaction that checks the current state first.
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { ApiError, type ExperimentState, FINAL_STATES } from '@bioreactor/api';
import type { Db } from './store.js';

/** One experiment as stored. Column names are the wire's snake_case so rows map to replies directly. */
export interface ExperimentRow {
  seq: number;
  id: string;
  name: string | null;
  user_id: string;
  script_content: string;
  status: ExperimentState;
  order_key: number;
  node_pin: string | null;
  node: string | null;
  /** 1 once the node accepted the start; a running row with 0 was claimed but may never have reached its node. */
  dispatched: number;
  max_duration_s: number;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  updated_at: string;
  exit_code: number | null;
  error_message: string | null;
}

/** A row without the script: what listings read, so a long queue of large scripts stays cheap to show. */
export type ExperimentSummary = Omit<ExperimentRow, 'script_content'>;

const SUMMARY_COLUMNS =
  'seq, id, name, user_id, status, order_key, node_pin, node, dispatched, max_duration_s, created_at, started_at, completed_at, updated_at, exit_code, error_message';

export interface SubmitInput {
  id?: string;
  userId: string;
  script: string;
  name?: string | null;
  maxDurationS: number;
  nodePin?: string | null;
}

export interface QueueOptions {
  maxActivePerUser: number;
  retentionMs: number;
  now?: () => number;
}

export interface QueueEvents {
  /** Any experiment changed (after the transaction committed). */
  experiment: [row: ExperimentRow];
  /** Experiments were removed by the sweep. */
  swept: [ids: string[]];
}

const WAITING = "('queued', 'paused')";
const ACTIVE = "('queued', 'running', 'paused')";
const ORDER = 'ORDER BY order_key, seq';

const FINAL_LIST = FINAL_STATES.map((s) => `'${s}'`).join(', ');

export class ExperimentQueue extends EventEmitter<QueueEvents> {
  readonly now: () => number;
  private medianCache: number | null | undefined;

  constructor(
    readonly db: Db,
    private readonly opts: QueueOptions,
  ) {
    super();
    this.now = opts.now ?? Date.now;
  }

  private iso(): string {
    return new Date(this.now()).toISOString();
  }

  get(id: string): ExperimentRow | undefined {
    return this.db.prepare('SELECT * FROM experiments WHERE id = ?').get(id) as ExperimentRow | undefined;
  }

  mustGet(id: string): ExperimentRow {
    const row = this.get(id);
    if (!row)
      throw new ApiError(
        'EXPERIMENT_NOT_FOUND',
        `No experiment '${id}': it never existed or was removed after the retention period; GET /api/experiments/user lists yours`,
      );
    return row;
  }

  /** Queued and paused experiments in queue order: the line positions are counted over. */
  waiting(): ExperimentSummary[] {
    return this.db
      .prepare(`SELECT ${SUMMARY_COLUMNS} FROM experiments WHERE status IN ${WAITING} ${ORDER}`)
      .all() as ExperimentSummary[];
  }

  running(): ExperimentSummary[] {
    return this.db
      .prepare(`SELECT ${SUMMARY_COLUMNS} FROM experiments WHERE status = 'running' ORDER BY seq`)
      .all() as ExperimentSummary[];
  }

  byUser(userId: string | null): ExperimentSummary[] {
    const where = userId === null ? '' : 'WHERE user_id = ?';
    return this.db
      .prepare(`SELECT ${SUMMARY_COLUMNS} FROM experiments ${where} ORDER BY created_at DESC, seq DESC`)
      .all(...(userId === null ? [] : [userId])) as ExperimentSummary[];
  }

  all(): ExperimentRow[] {
    return this.db.prepare(`SELECT * FROM experiments ${ORDER}`).all() as ExperimentRow[];
  }

  /** 1-based place among waiting experiments, or null when not waiting. */
  position(row: ExperimentSummary): number | null {
    if (row.status !== 'queued' && row.status !== 'paused') return null;
    const ahead = this.db
      .prepare(
        `SELECT COUNT(*) AS n FROM experiments WHERE status IN ${WAITING} AND (order_key < ? OR (order_key = ? AND seq < ?))`,
      )
      .get(row.order_key, row.order_key, row.seq) as { n: number };
    return ahead.n + 1;
  }

  submit(input: SubmitInput): ExperimentRow {
    const id = input.id ?? randomUUID();
    const now = this.iso();
    const row = this.db.transaction(() => {
      const { n } = this.db
        .prepare(`SELECT COUNT(*) AS n FROM experiments WHERE user_id = ? AND status IN ${ACTIVE}`)
        .get(input.userId) as { n: number };
      if (n >= this.opts.maxActivePerUser) {
        throw new ApiError(
          'QUEUE_LIMIT_REACHED',
          `Maximum ${this.opts.maxActivePerUser} experiments allowed per user: you have ${n} queued, running or paused; wait for one to finish or cancel one`,
        );
      }
      if (this.get(id)) throw new ApiError('INVALID_STATE', `An experiment with id '${id}' already exists`);
      const { k } = this.db.prepare('SELECT COALESCE(MAX(order_key), 0) + 1 AS k FROM experiments').get() as {
        k: number;
      };
      this.db
        .prepare(
          `INSERT INTO experiments (id, name, user_id, script_content, status, order_key, node_pin, max_duration_s, created_at, updated_at)
           VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?)`,
        )
        .run(
          id,
          input.name ?? null,
          input.userId,
          input.script,
          k,
          input.nodePin ?? null,
          input.maxDurationS,
          now,
          now,
        );
      return this.mustGet(id);
    })();
    this.emit('experiment', row);
    return row;
  }

  /**
   * Moves an experiment from one of `from` to `to` in one transaction. Throws INVALID_STATE naming the current
   * state when it is in none of them, so a late report can never overwrite a final state.
   */
  transition(
    id: string,
    from: readonly ExperimentState[],
    to: ExperimentState,
    patch: Partial<
      Pick<ExperimentRow, 'node' | 'dispatched' | 'started_at' | 'exit_code' | 'error_message' | 'order_key'>
    > = {},
    action = `become ${to}`,
  ): { before: ExperimentRow; after: ExperimentRow } {
    const result = this.db.transaction(() => {
      const before = this.mustGet(id);
      if (!from.includes(before.status)) {
        throw new ApiError(
          'INVALID_STATE',
          `Experiment '${id}' is ${before.status} and cannot ${action}; that needs it to be ${from.join(' or ')}`,
        );
      }
      const now = this.iso();
      const sets: string[] = ['status = @status', 'updated_at = @now'];
      const params: Record<string, unknown> = { id, status: to, now };
      for (const [k, v] of Object.entries(patch)) {
        sets.push(`${k} = @${k}`);
        params[k] = v;
      }
      if (FINAL_STATES.includes(to)) {
        sets.push('completed_at = @now');
        if (before.status === 'running' && before.started_at && before.dispatched) {
          const duration = (this.now() - Date.parse(before.started_at)) / 1000;
          if (to === 'completed' || to === 'failed') {
            this.db
              .prepare('INSERT INTO run_durations (duration_s, finished_at) VALUES (?, ?)')
              .run(Math.max(0, duration), now);
            this.medianCache = undefined;
          }
        }
      }
      this.db.prepare(`UPDATE experiments SET ${sets.join(', ')} WHERE id = @id`).run(params);
      return { before, after: this.mustGet(id) };
    })();
    this.emit('experiment', result.after);
    return result;
  }

  /** Claims the first queued experiment this node may run and marks it running there, atomically. */
  claimNext(nodeName: string): ExperimentRow | undefined {
    const claimed = this.db.transaction(() => {
      const next = this.db
        .prepare(
          `SELECT * FROM experiments WHERE status = 'queued' AND (node_pin IS NULL OR node_pin = ?) ${ORDER} LIMIT 1`,
        )
        .get(nodeName) as ExperimentRow | undefined;
      if (!next) return undefined;
      const now = this.iso();
      this.db
        .prepare(
          "UPDATE experiments SET status = 'running', node = ?, dispatched = 0, started_at = ?, updated_at = ? WHERE id = ? AND status = 'queued'",
        )
        .run(nodeName, now, now, next.id);
      return this.mustGet(next.id);
    })();
    if (claimed) this.emit('experiment', claimed);
    return claimed;
  }

  markDispatched(id: string): ExperimentRow | undefined {
    const changed = this.db
      .prepare("UPDATE experiments SET dispatched = 1, updated_at = ? WHERE id = ? AND status = 'running'")
      .run(this.iso(), id).changes;
    if (changed === 0) return undefined;
    const row = this.mustGet(id);
    this.emit('experiment', row);
    return row;
  }

  /** A claimed run that never reached its node goes back to its old place in line. */
  requeue(id: string, reason: string | null = null): ExperimentRow | undefined {
    try {
      return this.transition(
        id,
        ['running'],
        'queued',
        { node: null, dispatched: 0, started_at: null, error_message: reason },
        'go back to the queue',
      ).after;
    } catch (err) {
      if (err instanceof ApiError && err.code === 'INVALID_STATE') return undefined;
      throw err;
    }
  }

  /** Records a run's end unless the experiment already ended (cancelled, or settled by another path). */
  settle(
    id: string,
    to: 'completed' | 'failed' | 'interrupted',
    exitCode: number | null,
    error: string | null,
  ): ExperimentRow | undefined {
    try {
      return this.transition(id, ['running'], to, { exit_code: exitCode, error_message: error }).after;
    } catch (err) {
      if (err instanceof ApiError && err.code === 'INVALID_STATE') return undefined;
      throw err;
    }
  }

  cancel(id: string, reason: string | null = null): { before: ExperimentRow; after: ExperimentRow } {
    return this.transition(id, ['queued', 'running', 'paused'], 'cancelled', { error_message: reason }, 'be cancelled');
  }

  pause(id: string): ExperimentRow {
    return this.transition(id, ['queued'], 'paused', {}, 'be paused (only a queued experiment can be held back)').after;
  }

  resume(id: string): ExperimentRow {
    return this.transition(id, ['paused'], 'queued', {}, 'be resumed').after;
  }

  /** Puts a waiting experiment at the head of the line (resuming it if paused). */
  moveToFront(id: string): ExperimentRow {
    const { k } = this.db
      .prepare(`SELECT COALESCE(MIN(order_key), 1) - 1 AS k FROM experiments WHERE status IN ${WAITING}`)
      .get() as { k: number };
    return this.transition(id, ['queued', 'paused'], 'queued', { order_key: k }, 'run now').after;
  }

  /** Moves a waiting experiment to a 0-based place among the waiting ones (clamped to the end). */
  reorder(id: string, newPosition: number): ExperimentRow {
    const row = this.db.transaction(() => {
      const target = this.mustGet(id);
      if (target.status !== 'queued' && target.status !== 'paused') {
        throw new ApiError(
          'INVALID_STATE',
          `Experiment '${id}' is ${target.status}; only queued or paused experiments have a place in line to move`,
        );
      }
      const line = this.waiting().filter((r) => r.id !== id);
      const at = Math.max(0, Math.min(newPosition, line.length));
      line.splice(at, 0, target);
      const update = this.db.prepare('UPDATE experiments SET order_key = ?, updated_at = ? WHERE id = ?');
      const now = this.iso();
      line.forEach((r, i) => {
        if (r.order_key !== i + 1 || r.id === id) update.run(i + 1, now, r.id);
      });
      return this.mustGet(id);
    })();
    this.emit('experiment', row);
    return row;
  }

  /** Files every experiment of user `from` under `to`, in one transaction; returns the moved rows. */
  transferUser(from: string, to: string): ExperimentRow[] {
    const rows = this.db
      .prepare('UPDATE experiments SET user_id = ?, updated_at = ? WHERE user_id = ? RETURNING *')
      .all(to, this.iso(), from) as ExperimentRow[];
    for (const row of rows) this.emit('experiment', row);
    return rows;
  }

  /** Removes finished experiments older than the retention period; never touches active ones. */
  sweep(): string[] {
    const cutoff = new Date(this.now() - this.opts.retentionMs).toISOString();
    const ids = this.db.transaction(() => {
      const rows = this.db
        .prepare(`SELECT id FROM experiments WHERE status IN (${FINAL_LIST}) AND completed_at < ?`)
        .all(cutoff) as { id: string }[];
      this.db.prepare(`DELETE FROM experiments WHERE status IN (${FINAL_LIST}) AND completed_at < ?`).run(cutoff);
      this.db
        .prepare(
          'DELETE FROM run_durations WHERE seq NOT IN (SELECT seq FROM run_durations ORDER BY seq DESC LIMIT 200)',
        )
        .run();
      return rows.map((r) => r.id);
    })();
    if (ids.length > 0) this.emit('swept', ids);
    return ids;
  }

  /** Median duration in seconds of the last 51 finished runs, or null without history. */
  medianRunSeconds(): number | null {
    if (this.medianCache !== undefined) return this.medianCache;
    const rows = this.db.prepare('SELECT duration_s AS d FROM run_durations ORDER BY seq DESC LIMIT 51').all() as {
      d: number;
    }[];
    const sorted = rows.map((r) => r.d).sort((a, b) => a - b);
    let median: number | null = null;
    if (sorted.length > 0) {
      const mid = Math.floor(sorted.length / 2);
      median =
        sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
    }
    this.medianCache = median;
    return median;
  }

  getMeta(key: string): string | undefined {
    const row = this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
    return row?.value;
  }

  setMeta(key: string, value: string): void {
    this.db
      .prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value')
      .run(key, value);
  }
}
