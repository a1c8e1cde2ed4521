// The durable experiment queue: every state change is one SQLite transaction that checks the current state first.
import { createHash, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { ApiError, type ExperimentState, FINAL_STATES, formatSeconds, type MaxDurationSource } from '@bioreactor/api';
import { programSha256 } from './programs.js';
import { type Db, readMeta, writeMeta } from './store.js';

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
  /** SHA-256 of the script (hex), as the node computes it: estimates learn from the same script's runs. */
  script_sha256: string | null;
  max_duration_source: MaxDurationSource;
  /** Timeline ms (apps/hub/src/clock.ts) when the hub claimed the run; null until then. */
  started_mono: number | null;
  /** Timeline ms when the run ended (the node's own end when it reported one); null until it ended. */
  ended_mono: number | null;
  /** Cancelled by run-now while running: the experiment that took its node. */
  preempted_by: string | null;
  /** Set when the lab's retention policy archived it: no longer listed, still readable by id. */
  archived_at: string | null;
  /** Its owner's notes (null: none). */
  notes: string | null;
  /** Its owner's labels, a JSON array of strings (null: none). */
  labels: string | null;
  /** A Python script, or a program the node runs itself (`program` holds it; script_content is empty). */
  kind: ExperimentKind;
  /** The program as canonical JSON (apps/hub/src/queue/programs.ts); null for a script. */
  program: string | null;
  /** A pre-flight on a simulation twin at this many times the wall clock; null for a run on any node. */
  time_scale: number | null;
  /** A pre-flight's verdict from its report: 1 passed, 0 did not, null not known (yet). */
  preflight_passed: number | null;
}

/** A row without the script or program: what listings read, so a long queue of large ones stays cheap to show. */
export type ExperimentSummary = Omit<ExperimentRow, 'script_content' | 'program'>;

const SUMMARY_COLUMNS =
  'seq, id, name, user_id, status, order_key, node_pin, node, dispatched, max_duration_s, created_at, started_at, completed_at, updated_at, exit_code, error_message, script_sha256, max_duration_source, started_mono, ended_mono, preempted_by, archived_at, notes, labels, kind, time_scale, preflight_passed';

export type ExperimentKind = 'script' | 'program';

export interface SubmitInput {
  id?: string;
  userId: string;
  /** The script's text; ignored when `program` is given. */
  script: string;
  /** A program instead of a script: its canonical JSON. */
  program?: string | null;
  /** A pre-flight at this speed-up, on a twin only. */
  timeScale?: number | null;
  name?: string | null;
  maxDurationS: number;
  maxDurationSource?: MaxDurationSource;
  nodePin?: string | null;
  /** The client's Idempotency-Key, and a hash of its request: a retry with both gets the first experiment. */
  idempotency?: { key: string; requestSha256: string };
}

/** How long an Idempotency-Key is remembered (a day: retries come within minutes; the key is the client's). */
const IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000;

/** The lab's retention policy: off unless it set BIOREACTOR_RETENTION_DAYS. */
export interface RetentionPolicy {
  /** Finished experiments older than this (timeline ms since they ended) are archived or deleted. */
  afterMs: number;
  action: 'archive' | 'delete';
}

/** How a run ended, as its node recorded it: taken over when the node reports. */
export interface NodeTimes {
  /** The node's start_time and end_time (ISO): what the record shows. */
  startedAt: string | null;
  completedAt: string | null;
}

export interface QueueLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface QueueOptions {
  maxActivePerUser: number;
  /** null: finished experiments stay until their owner or an admin deletes them. */
  retention?: RetentionPolicy | null;
  /** Wall clock (ms since the epoch): for the timestamps people read. */
  now?: () => number;
  /** Timeline ms (monotonic, kept across restarts): for every duration. Defaults to the wall clock in tests. */
  mono?: () => number;
  log?: QueueLogger;
}

export interface QueueEvents {
  /** Any experiment changed (after the transaction committed). */
  experiment: [row: ExperimentRow];
  /** An experiment reached a final state (once, after the transaction committed). */
  ended: [row: ExperimentRow];
  /** Experiments were removed (retention policy with action delete, or a delete by their owner or an admin). */
  swept: [ids: string[]];
}

/** A node's own run time is taken when it fits inside what the hub saw (claim to report), with this much slack. */
const NODE_DURATION_SLACK_MS = 120_000;

/** Past runs kept for estimates. */
const HISTORY_ROWS = 5000;

export function scriptSha256(script: string): string {
  return createHash('sha256').update(script).digest('hex');
}

/** The hash an experiment is matched by (estimates, pre-flights): of the script's bytes, or of the program's JSON. */
export function submissionSha256(input: Pick<SubmitInput, 'script' | 'program'>): string {
  return input.program ? programSha256(input.program) : scriptSha256(input.script);
}

const WAITING = "('queued', 'paused')";
const ACTIVE = "('queued', 'running', 'paused')";
const ORDER = 'ORDER BY order_key, seq';

const FINAL_LIST = FINAL_STATES.map((s) => `'${s}'`).join(', ');

export class ExperimentQueue extends EventEmitter<QueueEvents> {
  readonly now: () => number;
  readonly mono: () => number;
  private readonly historyCache = new Map<string, number[]>();

  constructor(
    readonly db: Db,
    private readonly opts: QueueOptions,
  ) {
    super();
    this.now = opts.now ?? Date.now;
    this.mono = opts.mono ?? this.now;
  }

  get retention(): RetentionPolicy | null {
    return this.opts.retention ?? null;
  }

  /**
   * Rows written before run times moved to the timeline get their hash and timeline marks, once, from what they
   * have (the wall-clock timestamps, as they read now).
   */
  adoptLegacyRows(): number {
    const wall = this.now();
    const t = this.mono();
    const back = (iso: string | null) => {
      const at = iso ? Date.parse(iso) : Number.NaN;
      return Number.isFinite(at) ? t - Math.max(0, wall - at) : t;
    };
    return this.db.transaction(() => {
      let n = 0;
      const noHash = this.db
        .prepare('SELECT id, script_content FROM experiments WHERE script_sha256 IS NULL')
        .all() as { id: string; script_content: string }[];
      const setHash = this.db.prepare('UPDATE experiments SET script_sha256 = ? WHERE id = ?');
      for (const r of noHash) n += setHash.run(scriptSha256(r.script_content), r.id).changes;
      const unmarked = this.db
        .prepare(
          `SELECT id, status, started_at, completed_at, updated_at FROM experiments
           WHERE (status = 'running' AND started_mono IS NULL) OR (status IN (${FINAL_LIST}) AND ended_mono IS NULL)`,
        )
        .all() as Pick<ExperimentRow, 'id' | 'status' | 'started_at' | 'completed_at' | 'updated_at'>[];
      const mark = this.db.prepare('UPDATE experiments SET started_mono = ?, ended_mono = ? WHERE id = ?');
      for (const r of unmarked) {
        const started = r.started_at ? back(r.started_at) : null;
        const ended = r.status === 'running' ? null : back(r.completed_at ?? r.updated_at);
        n += mark.run(started, ended, r.id).changes;
      }
      return n;
    })();
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

  /** One user's experiments (every one for null), newest first; archived ones only when asked. */
  byUser(userId: string | null, includeArchived = false): ExperimentSummary[] {
    const where = [userId === null ? '' : 'user_id = ?', includeArchived ? '' : 'archived_at IS NULL'].filter(
      (w) => w !== '',
    );
    return this.db
      .prepare(
        `SELECT ${SUMMARY_COLUMNS} FROM experiments ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, seq DESC`,
      )
      .all(...(userId === null ? [] : [userId])) as ExperimentSummary[];
  }

  /** Timeline ms a run has lasted: so far while running, in all once ended; null when it never ran. */
  elapsedMs(row: ExperimentSummary): number | null {
    if (row.started_mono === null) return null;
    if (row.status === 'running') return Math.max(0, this.mono() - row.started_mono);
    if (row.ended_mono === null || !FINAL_STATES.includes(row.status)) return null;
    return Math.max(0, row.ended_mono - row.started_mono);
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

  /**
   * Queues a script, or with an Idempotency-Key already seen for this user and the same request, returns the
   * experiment that request queued (`replayed`), whatever has happened to it since.
   */
  submit(input: SubmitInput): ExperimentRow & { replayed?: true } {
    const id = input.id ?? randomUUID();
    const now = this.iso();
    const idem = input.idempotency;
    if (idem) {
      const replay = this.db.transaction(() => {
        this.db
          .prepare('DELETE FROM submissions WHERE created_at < ?')
          .run(new Date(Date.parse(now) - IDEMPOTENCY_TTL_MS).toISOString());
        const seen = this.db
          .prepare('SELECT request_sha256, experiment_id FROM submissions WHERE user_id = ? AND idempotency_key = ?')
          .get(input.userId, idem.key) as { request_sha256: string; experiment_id: string } | undefined;
        if (!seen) return undefined;
        if (seen.request_sha256 !== idem.requestSha256) {
          throw new ApiError(
            'VALIDATION_FAILED',
            `Idempotency-Key '${idem.key}' was used for another submission (experiment ${seen.experiment_id}); use a new key for a new script or settings`,
          );
        }
        return this.get(seen.experiment_id);
      })();
      if (replay) return { ...replay, replayed: true };
    }
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
          `INSERT INTO experiments (id, name, user_id, script_content, status, order_key, node_pin, max_duration_s,
             max_duration_source, script_sha256, created_at, updated_at, kind, program, time_scale)
           VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          id,
          input.name ?? null,
          input.userId,
          input.program ? '' : input.script,
          k,
          input.nodePin ?? null,
          input.maxDurationS,
          input.maxDurationSource ?? 'declared',
          submissionSha256(input),
          now,
          now,
          input.program ? 'program' : 'script',
          input.program ?? null,
          input.timeScale ?? null,
        );
      if (idem) {
        this.db
          .prepare(
            'INSERT INTO submissions (user_id, idempotency_key, request_sha256, experiment_id, created_at) VALUES (?, ?, ?, ?, ?)',
          )
          .run(input.userId, idem.key, idem.requestSha256, id, now);
      }
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
      Pick<
        ExperimentRow,
        'node' | 'dispatched' | 'started_at' | 'exit_code' | 'error_message' | 'order_key' | 'preempted_by'
      >
    > = {},
    action = `become ${to}`,
    nodeTimes?: NodeTimes,
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
      const t = this.mono();
      const sets: string[] = ['status = @status', 'updated_at = @now'];
      const params: Record<string, unknown> = { id, status: to, now };
      const set = (column: string, value: unknown) => {
        sets.push(`${column} = @${column}`);
        params[column] = value;
      };
      for (const [k, v] of Object.entries(patch)) set(k, v);
      if (to === 'queued') set('started_mono', null);
      if (FINAL_STATES.includes(to)) {
        const ran = before.status === 'running' && before.started_mono !== null;
        // The node's own run time, when it fits inside what the hub saw of the run (claim to this report); the
        // hub's monotonic span otherwise (the node's wall clock stepped, or it never said).
        const seenMs = ran ? Math.max(0, t - (before.started_mono as number)) : 0;
        const nodeMs =
          nodeTimes?.startedAt && nodeTimes.completedAt
            ? Date.parse(nodeTimes.completedAt) - Date.parse(nodeTimes.startedAt)
            : Number.NaN;
        const nodeFits = Number.isFinite(nodeMs) && nodeMs >= 0 && nodeMs <= seenMs + NODE_DURATION_SLACK_MS;
        const ranMs = nodeFits ? Math.min(nodeMs, seenMs) : seenMs;
        set('completed_at', nodeTimes?.completedAt ?? now);
        if (nodeTimes?.startedAt) set('started_at', nodeTimes.startedAt);
        set('ended_mono', ran ? (before.started_mono as number) + ranMs : t);
        // A pre-flight's wall time says nothing of how long the real run takes.
        if (ran && before.dispatched && before.time_scale === null && (to === 'completed' || to === 'failed')) {
          this.db
            .prepare('INSERT INTO run_durations (duration_s, finished_at, user_id, script_sha256) VALUES (?, ?, ?, ?)')
            .run(ranMs / 1000, now, before.user_id, before.script_sha256);
          this.historyCache.clear();
        }
      }
      this.db.prepare(`UPDATE experiments SET ${sets.join(', ')} WHERE id = @id`).run(params);
      return { before, after: this.mustGet(id) };
    })();
    this.emit('experiment', result.after);
    if (FINAL_STATES.includes(to) && !FINAL_STATES.includes(result.before.status)) this.emit('ended', result.after);
    return result;
  }

  /**
   * Claims the first queued experiment this node may run (pinned to it or to none, within its advertised maximum
   * duration when it has one, and a pre-flight only on a twin that takes its speed-up) and marks it running there,
   * atomically. `nodeMaxTimeScale` is the largest time_scale the node takes: 0 for real hardware.
   */
  claimNext(nodeName: string, nodeMaxDurationS: number | null = null, nodeMaxTimeScale = 0): ExperimentRow | undefined {
    const claimed = this.db.transaction(() => {
      // A duration the user declared must fit the node; a default (the lab's, or the limit when the node's own was
      // not known yet at submission) is cut to what the node takes, so the run is not left waiting for ever.
      const next = this.db
        .prepare(
          `SELECT * FROM experiments WHERE status = 'queued' AND (node_pin IS NULL OR node_pin = ?)
           AND (? IS NULL OR max_duration_s <= ? OR max_duration_source != 'declared')
           AND (time_scale IS NULL OR time_scale <= ?) ${ORDER} LIMIT 1`,
        )
        .get(nodeName, nodeMaxDurationS, nodeMaxDurationS, nodeMaxTimeScale) as ExperimentRow | undefined;
      if (!next) return undefined;
      const now = this.iso();
      const duration =
        nodeMaxDurationS !== null && next.max_duration_source !== 'declared'
          ? Math.min(next.max_duration_s, nodeMaxDurationS)
          : next.max_duration_s;
      this.db
        .prepare(
          "UPDATE experiments SET status = 'running', node = ?, dispatched = 0, started_at = ?, started_mono = ?, updated_at = ?, max_duration_s = ? WHERE id = ? AND status = 'queued'",
        )
        .run(nodeName, now, this.mono(), now, duration, next.id);
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
    nodeTimes?: NodeTimes,
  ): ExperimentRow | undefined {
    try {
      return this.transition(
        id,
        ['running'],
        to,
        { exit_code: exitCode, error_message: error },
        `become ${to}`,
        nodeTimes,
      ).after;
    } catch (err) {
      if (err instanceof ApiError && err.code === 'INVALID_STATE') return undefined;
      throw err;
    }
  }

  cancel(
    id: string,
    reason: string | null = null,
    preemptedBy: string | null = null,
  ): { before: ExperimentRow; after: ExperimentRow } {
    return this.transition(
      id,
      ['queued', 'running', 'paused'],
      'cancelled',
      { error_message: reason, ...(preemptedBy ? { preempted_by: preemptedBy } : {}) },
      'be cancelled',
    );
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

  /**
   * Moves a waiting experiment to a 0-based place among the waiting ones (clamped to the end). With `within` (a user
   * id) it moves only among the places that user's experiments hold: the set of places stays theirs, everyone else
   * keeps theirs, and a place held by another user is refused (FORBIDDEN).
   */
  reorder(id: string, newPosition: number, within: string | null = null): ExperimentRow {
    const row = this.db.transaction(() => {
      const target = this.mustGet(id);
      if (target.status !== 'queued' && target.status !== 'paused') {
        throw new ApiError(
          'INVALID_STATE',
          `Experiment '${id}' is ${target.status}; only queued or paused experiments have a place in line to move`,
        );
      }
      const waiting: ExperimentSummary[] = this.waiting();
      let line: ExperimentSummary[];
      if (within === null) {
        line = waiting.filter((r) => r.id !== id);
        line.splice(Math.max(0, Math.min(newPosition, line.length)), 0, target);
      } else {
        const places = waiting.flatMap((r, i) => (r.user_id === within ? [i] : []));
        const at = Math.max(0, Math.min(newPosition, waiting.length - 1));
        if (!places.includes(at)) {
          throw new ApiError(
            'FORBIDDEN',
            `Place ${at} (0-based) holds another user's experiment; you may move experiment '${id}' only among the places your own experiments hold: new_position ${places.join(', ')}. An admin may move it anywhere`,
          );
        }
        const own = places.map((i) => waiting[i] as ExperimentSummary).filter((r) => r.id !== id);
        own.splice(places.indexOf(at), 0, target);
        line = [...waiting];
        places.forEach((place, k) => {
          line[place] = own[k] as ExperimentSummary;
        });
      }
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

  /** Sets an experiment's notes and labels (what is not given stays); any state, archived ones too. */
  annotate(id: string, notes: string | null | undefined, labels: string[] | undefined): ExperimentRow {
    const row = this.mustGet(id);
    const next = this.db
      .prepare('UPDATE experiments SET notes = ?, labels = ?, updated_at = ? WHERE id = ? RETURNING *')
      .get(
        notes === undefined ? row.notes : notes,
        labels === undefined ? row.labels : labels.length > 0 ? JSON.stringify(labels) : null,
        this.iso(),
        id,
      ) as ExperimentRow;
    this.emit('experiment', next);
    return next;
  }

  /**
   * Every experiment, newest first, a page at a time, with how many match: for the lab manager's list of all runs.
   * `q` matches the name, id, owner, notes or labels.
   */
  search(filter: {
    q?: string | undefined;
    status?: string | undefined;
    user?: string | undefined;
    label?: string | undefined;
    includeArchived?: boolean | undefined;
    limit: number;
    offset: number;
  }): { rows: ExperimentSummary[]; total: number } {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (!filter.includeArchived) where.push('archived_at IS NULL');
    if (filter.status) {
      where.push('status = ?');
      args.push(filter.status);
    }
    if (filter.user) {
      where.push('user_id = ?');
      args.push(filter.user);
    }
    if (filter.label) {
      where.push("EXISTS (SELECT 1 FROM json_each(COALESCE(labels, '[]')) WHERE lower(value) = lower(?))");
      args.push(filter.label);
    }
    if (filter.q?.trim()) {
      const like = `%${filter.q
        .trim()
        .toLowerCase()
        .replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      where.push(
        "(lower(id) LIKE ? ESCAPE '\\' OR lower(COALESCE(name, '')) LIKE ? ESCAPE '\\' OR lower(user_id) LIKE ? ESCAPE '\\' OR lower(COALESCE(notes, '')) LIKE ? ESCAPE '\\' OR lower(COALESCE(labels, '')) LIKE ? ESCAPE '\\')",
      );
      args.push(like, like, like, like, like);
    }
    const clause = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
    const total = (this.db.prepare(`SELECT COUNT(*) AS n FROM experiments ${clause}`).get(...args) as { n: number }).n;
    const rows = this.db
      .prepare(`SELECT ${SUMMARY_COLUMNS} FROM experiments ${clause} ORDER BY seq DESC LIMIT ? OFFSET ?`)
      .all(...args, filter.limit, filter.offset) as ExperimentSummary[];
    return { rows, total };
  }

  /** Files every experiment of user `from` under `to`, in one transaction; returns the moved rows. */
  transferUser(from: string, to: string): ExperimentRow[] {
    const rows = this.db.transaction(() => {
      this.db.prepare('UPDATE run_durations SET user_id = ? WHERE user_id = ?').run(to, from);
      this.historyCache.clear();
      return this.db
        .prepare('UPDATE experiments SET user_id = ?, updated_at = ? WHERE user_id = ? RETURNING *')
        .all(to, this.iso(), from) as ExperimentRow[];
    })();
    for (const row of rows) this.emit('experiment', row);
    return rows;
  }

  /** Deletes a finished experiment (its owner or an admin asked); throws INVALID_STATE for an active one. */
  remove(id: string): ExperimentRow {
    const row = this.db.transaction(() => {
      const before = this.mustGet(id);
      if (!FINAL_STATES.includes(before.status)) {
        throw new ApiError(
          'INVALID_STATE',
          `Experiment '${id}' is ${before.status}; cancel it first, then delete it (only finished experiments are deleted)`,
        );
      }
      this.db.prepare('DELETE FROM experiments WHERE id = ?').run(id);
      return before;
    })();
    this.emit('swept', [id]);
    return row;
  }

  /**
   * Applies the lab's retention policy: finished experiments that ended longer ago than it says (on the timeline, so a
   * wall-clock step moves nothing) are archived or deleted, each one logged. Without a policy nothing is touched.
   * Active experiments never are. Returns the ids it archived or deleted.
   */
  sweep(): string[] {
    const policy = this.opts.retention ?? null;
    this.db
      .prepare(
        `DELETE FROM run_durations WHERE seq NOT IN (SELECT seq FROM run_durations ORDER BY seq DESC LIMIT ${HISTORY_ROWS})`,
      )
      .run();
    if (!policy) return [];
    const cutoff = this.mono() - policy.afterMs;
    const rows = this.db.transaction(() => {
      const due = this.db
        .prepare(
          `SELECT ${SUMMARY_COLUMNS} FROM experiments WHERE status IN (${FINAL_LIST})
           ${policy.action === 'archive' ? 'AND archived_at IS NULL' : ''}
           AND ended_mono IS NOT NULL AND ended_mono < ? ORDER BY seq`,
        )
        .all(cutoff) as ExperimentSummary[];
      const now = this.iso();
      const apply =
        policy.action === 'delete'
          ? this.db.prepare('DELETE FROM experiments WHERE id = ?')
          : this.db.prepare('UPDATE experiments SET archived_at = ?, updated_at = ? WHERE id = ?');
      for (const r of due) {
        if (policy.action === 'delete') apply.run(r.id);
        else apply.run(now, now, r.id);
      }
      return due;
    })();
    const days = formatSeconds(policy.afterMs / 1000);
    for (const r of rows) {
      this.opts.log?.info(
        {
          experiment_id: r.id,
          user_id: r.user_id,
          status: r.status,
          completed_at: r.completed_at,
          retention: days,
          action: policy.action,
        },
        policy.action === 'delete'
          ? `deleted experiment ${r.id}: it ended more than ${days} ago (BIOREACTOR_RETENTION_DAYS, BIOREACTOR_RETENTION_ACTION=delete)`
          : `archived experiment ${r.id}: it ended more than ${days} ago (BIOREACTOR_RETENTION_DAYS); it is no longer listed but still readable by id`,
      );
    }
    if (rows.length > 0) {
      if (policy.action === 'delete')
        this.emit(
          'swept',
          rows.map((r) => r.id),
        );
      else for (const r of rows) this.emit('experiment', this.mustGet(r.id));
    }
    return rows.map((r) => r.id);
  }

  /** Durations in seconds of past runs, newest first: of one script, one owner, or all (`kind` of null). */
  history(kind: 'script' | 'owner' | null, key: string | null = null, limit = 20): number[] {
    const cacheKey = `${kind ?? 'all'}\u0000${key ?? ''}\u0000${limit}`;
    const cached = this.historyCache.get(cacheKey);
    if (cached) return cached;
    const where = kind === 'script' ? 'WHERE script_sha256 = ?' : kind === 'owner' ? 'WHERE user_id = ?' : '';
    const rows = this.db
      .prepare(`SELECT duration_s AS d FROM run_durations ${where} ORDER BY seq DESC LIMIT ${Math.floor(limit)}`)
      .all(...(kind === null ? [] : [key])) as { d: number }[];
    const out = rows.map((r) => r.d);
    if (this.historyCache.size > 10_000) this.historyCache.clear();
    this.historyCache.set(cacheKey, out);
    return out;
  }

  /** Records a pre-flight's verdict from its report (once known; the row changes only when it differs). */
  setPreflightPassed(id: string, passed: boolean): ExperimentRow | undefined {
    const row = this.db
      .prepare(
        'UPDATE experiments SET preflight_passed = ?, updated_at = ? WHERE id = ? AND time_scale IS NOT NULL AND preflight_passed IS NOT ? RETURNING *',
      )
      .get(passed ? 1 : 0, this.iso(), id, passed ? 1 : 0) as ExperimentRow | undefined;
    if (row) this.emit('experiment', row);
    return row;
  }

  /**
   * A user's finished pre-flights of one script or program (by its hash): one that passed (completed with a passing
   * report), those completed whose verdict is not known yet, and the newest that ran to an end (for the message).
   */
  preflightsOf(
    userId: string,
    sha256: string,
  ): { passed: ExperimentSummary | undefined; unknown: ExperimentSummary[]; latest: ExperimentSummary | undefined } {
    const rows = this.db
      .prepare(
        `SELECT ${SUMMARY_COLUMNS} FROM experiments WHERE user_id = ? AND script_sha256 = ? AND time_scale IS NOT NULL
         AND status IN ('completed', 'failed') ORDER BY seq DESC`,
      )
      .all(userId, sha256) as ExperimentSummary[];
    const completed = rows.filter((r) => r.status === 'completed');
    return {
      passed: completed.find((r) => r.preflight_passed === 1),
      unknown: completed.filter((r) => r.preflight_passed === null),
      latest: rows[0],
    };
  }

  getMeta(key: string): string | undefined {
    return readMeta(this.db, key);
  }

  setMeta(key: string, value: string): void {
    writeMeta(this.db, key, value);
  }
}
