// Drives the nodes: starts the next experiment the moment a node frees, follows runs through the node's event
// stream (polling behind it), marks silent nodes offline and settles what ran on them when they return.
import { ApiError, formatSeconds, isRunFinal, type Preemption, type RunRecord } from '@bioreactor/api';
import { timerDelay } from '../clock.js';
import { type NodeEntry, type NodeRegistry, readinessOf } from '../nodes/registry.js';
import type { ExperimentQueue, ExperimentRow } from './queue.js';

export interface DispatcherOptions {
  pollMs: number;
  healthIntervalMs: number;
  /** Silence after which a node is reported lost (logged, shown); its run is never given up for it. */
  lostTimeoutMs: number;
  sweepIntervalMs: number;
  /** Extra time past max_duration_s before the hub stops a run itself (the node should have already). */
  overtimeGraceMs?: number;
  log: {
    info: (obj: object, msg: string) => void;
    warn: (obj: object, msg: string) => void;
    error: (obj: object, msg: string) => void;
  };
}

const MAX_BACKOFF_MS = 60_000;

/** A node's advertised limits are read again this often while it answers (they change only with its restart). */
const LIMITS_REFRESH_MS = 60_000;

/** What run-now did: the experiment moved to the head, and the running one it cancelled to take its node, if any. */
export interface RunNowResult {
  row: ExperimentRow;
  preempted: Preemption | null;
  message: string;
}

/** What the hub records when a node reports a run's end. */
export function outcomeOf(
  run: RunRecord,
  stoppedForOvertime: boolean,
): { status: 'completed' | 'failed' | 'interrupted'; exitCode: number | null; error: string | null } {
  const exitCode = run.exit_code;
  switch (run.status) {
    case 'completed':
      if (exitCode === 0 || exitCode === null) return { status: 'completed', exitCode, error: null };
      return { status: 'failed', exitCode, error: run.error_message ?? `The script exited with code ${exitCode}` };
    case 'timed_out':
      return {
        status: 'failed',
        exitCode,
        error: `Stopped after reaching its maximum duration of ${run.max_duration_s} s`,
      };
    case 'stopped':
      return {
        status: 'failed',
        exitCode,
        error: stoppedForOvertime
          ? `Stopped by the hub after running past its maximum duration of ${run.max_duration_s} s`
          : 'Stopped on the node (not through the hub)',
      };
    case 'interrupted':
      return {
        status: 'interrupted',
        exitCode,
        error: run.error_message ?? 'The node restarted while the experiment ran',
      };
    default:
      // The node words it with the limit it applied (BIOREACTOR_EXPERIMENT_MEMORY).
      if (run.oom_killed) return { status: 'failed', exitCode, error: run.error_message ?? 'Out of memory' };
      return {
        status: 'failed',
        exitCode,
        error: run.error_message ?? (exitCode === null ? 'The run failed' : `The script exited with code ${exitCode}`),
      };
  }
}

export class Dispatcher {
  private readonly stopping = new AbortController();
  private passQueued = false;
  private sweepTimer: NodeJS.Timeout | undefined;
  /** Runs the hub stopped for running past their maximum duration. */
  private readonly overtime = new Set<string>();
  private readonly watched = new Set<NodeEntry>();

  constructor(
    private readonly queue: ExperimentQueue,
    private readonly registry: NodeRegistry,
    private readonly opts: DispatcherOptions,
  ) {}

  start(): void {
    // After a restart every running record belongs to its node until that node says otherwise.
    for (const row of this.queue.running()) {
      const node = row.node ? this.registry.get(row.node) : undefined;
      if (!node) {
        this.queue.settle(
          row.id,
          'interrupted',
          null,
          `Node '${row.node ?? '?'}' is no longer registered with the hub`,
        );
        continue;
      }
      node.busyWith = row.id;
    }
    for (const node of this.registry.list()) this.watch(node);
    this.registry.on('node', (node) => {
      if (!this.watched.has(node)) this.watch(node);
    });
    this.registry.on('removed', () => this.kick());
    this.queue.on('experiment', (row) => {
      if (row.status === 'queued') this.kick();
    });
    const sweep = () => {
      try {
        this.queue.sweep();
      } catch (err) {
        this.opts.log.error({ err }, 'sweep failed');
      }
    };
    this.sweepTimer = setInterval(sweep, timerDelay(this.opts.sweepIntervalMs));
    this.sweepTimer.unref();
    sweep();
  }

  get stopped(): boolean {
    return this.stopping.signal.aborted;
  }

  stop(): void {
    this.stopping.abort();
    clearInterval(this.sweepTimer);
    this.registry.closeAll();
  }

  /** Schedules one dispatch pass (many kicks in one tick make one pass). */
  kick(): void {
    if (this.passQueued || this.stopping.signal.aborted) return;
    this.passQueued = true;
    queueMicrotask(() => {
      this.passQueued = false;
      this.pass();
    });
  }

  private pass(): void {
    if (this.stopped) return;
    const now = this.queue.mono();
    for (const node of this.registry.list()) {
      // Drained, a full disk, no runner or sensors still starting: it takes nothing new (readiness says why).
      if (!this.registry.canTakeWork(node) || node.retryAt > now) continue;
      const row = this.queue.claimNext(node.name, node.maxDurationS, node.twin?.maxTimeScale ?? 0);
      if (!row) continue;
      node.busyWith = row.id;
      node.starting = true;
      this.registry.changed(node);
      void this.startOn(node, row);
    }
  }

  private async startOn(node: NodeEntry, row: ExperimentRow): Promise<void> {
    try {
      await node.client.start({
        ...(row.kind === 'program' && row.program !== null
          ? { program: JSON.parse(row.program) as Record<string, unknown> }
          : { script_content: row.script_content }),
        experiment_id: row.id,
        max_duration_s: row.max_duration_s,
        ...(row.time_scale === null ? {} : { time_scale: row.time_scale }),
      });
      node.starting = false;
      node.backoffMs = 0;
      if (this.stopped) return;
      if (!this.queue.markDispatched(row.id)) {
        // Cancelled while the node was starting it: stop what just began.
        this.stopInBackground(node, row.id);
      }
      this.opts.log.info({ experiment_id: row.id, node: node.name }, 'experiment started');
      this.registry.changed(node);
    } catch (err) {
      node.starting = false;
      if (this.stopped) return;
      const e = err instanceof ApiError ? err : new ApiError('INTERNAL', (err as Error).message);
      if (e.code === 'NODE_UNREACHABLE') {
        // It may have started before the connection broke; the node's own record decides when it is back.
        this.opts.log.warn({ experiment_id: row.id, node: node.name, err: e.message }, 'start did not get through');
        this.markOffline(node, e.message);
        return;
      }
      if (node.busyWith === row.id) node.busyWith = null;
      if (e.code === 'NODE_BUSY' || e.code === 'RUNNER_UNAVAILABLE') {
        this.queue.requeue(row.id);
        node.backoffMs = Math.min(MAX_BACKOFF_MS, node.backoffMs === 0 ? this.opts.pollMs : node.backoffMs * 2);
        node.retryAt = this.queue.mono() + node.backoffMs;
        node.detail = e.code === 'NODE_BUSY' ? `busy with a run the hub did not start: ${e.message}` : e.message;
        if (e.code === 'RUNNER_UNAVAILABLE') node.runner = { available: false, detail: e.message };
        this.opts.log.warn({ node: node.name, err: e.message }, 'node refused a start; retrying later');
        setTimeout(() => this.kick(), timerDelay(node.backoffMs)).unref();
        if (e.code === 'NODE_BUSY') void this.reconcile(node);
      } else {
        this.queue.settle(row.id, 'failed', null, `Node '${node.name}' refused to start it: ${e.message}`);
      }
      this.registry.changed(node);
      this.kick();
    }
  }

  /** Cancels an experiment; a running one is stopped on its node without waiting for the stop to finish. */
  cancel(id: string, reason: string | null = null, preemptedBy: string | null = null): ExperimentRow {
    const { before, after } = this.queue.cancel(id, reason, preemptedBy);
    if (before.status === 'running' && before.node) {
      const node = this.registry.get(before.node);
      if (node) this.stopInBackground(node, id);
    }
    return after;
  }

  /**
   * Moves a waiting experiment to the head and, when no node it may use is free, cancels the run started last on
   * such a node to make way. The result says what happened to that run; its record says it too (preempted_by, and
   * an error_message naming the experiment that took its place).
   */
  runNow(id: string): RunNowResult {
    const row = this.queue.moveToFront(id);
    const eligible = this.registry
      .list()
      .filter(
        (n) =>
          readinessOf(n).ready &&
          (row.node_pin === null || row.node_pin === n.name) &&
          (row.time_scale === null || (n.twin !== null && row.time_scale <= n.twin.maxTimeScale)) &&
          (n.maxDurationS === null || row.max_duration_s <= n.maxDurationS || row.max_duration_source !== 'declared'),
      );
    const moved = `Experiment ${id} moved to the front of the queue`;
    if (eligible.some((n) => !n.busyWith && !n.starting)) {
      this.kick();
      return { row, preempted: null, message: `${moved}; a node is free, so no running experiment was affected` };
    }
    if (eligible.length === 0) {
      return {
        row,
        preempted: null,
        message: `${moved}; no node it may use answers now, so no running experiment was affected: it starts first when one does`,
      };
    }
    const victims = this.queue
      .running()
      .filter((r) => r.node !== null && eligible.some((n) => n.name === r.node))
      .sort((a, b) => (b.started_mono ?? 0) - (a.started_mono ?? 0));
    const victim = victims[0];
    if (!victim) {
      return {
        row,
        preempted: null,
        message: `${moved}; its node is busy with a run the hub did not start, so nothing was cancelled: it starts when that run ends`,
      };
    }
    const elapsedMs = this.queue.elapsedMs(victim);
    const ran = elapsedMs === null ? '' : ` after running ${formatSeconds(elapsedMs / 1000)}`;
    this.cancel(
      victim.id,
      `Cancelled by run-now${ran} on node '${victim.node}': stopped to make way for experiment ${id.slice(0, 8)}`,
      id,
    );
    this.opts.log.info(
      {
        experiment_id: victim.id,
        node: victim.node,
        preempted_by: id,
        elapsed_s: elapsedMs === null ? null : elapsedMs / 1000,
      },
      'run-now cancelled a running experiment to take its node',
    );
    return {
      row: this.queue.mustGet(id),
      preempted: {
        experiment_id: victim.id,
        node: victim.node as string,
        status: 'cancelled',
        elapsed_s: elapsedMs === null ? null : Math.round(elapsedMs / 100) / 10,
      },
      message: `${moved}; experiment ${victim.id}, running on node ${victim.node}${ran}, was cancelled and is being stopped to make way for it`,
    };
  }

  /**
   * Takes a finished pre-flight's verdict from its report on the node (BIOREACTOR_REQUIRE_PREFLIGHT looks for it).
   * A node that does not answer now is asked again when the verdict is needed (routes/experiments.ts).
   */
  async recordPreflight(node: NodeEntry, id: string): Promise<boolean | undefined> {
    try {
      const passed = await node.client.preflightPassed(id);
      if (passed !== undefined && !this.stopped) this.queue.setPreflightPassed(id, passed);
      return passed;
    } catch (err) {
      this.opts.log.warn(
        { node: node.name, experiment_id: id, err: (err as Error).message },
        'the pre-flight report could not be read; it is asked for again when needed',
      );
      return undefined;
    }
  }

  private stopInBackground(node: NodeEntry, id: string): void {
    node.client.stop(id).then(
      () => this.pollSoon(node),
      (err: Error) => this.opts.log.warn({ node: node.name, experiment_id: id, err: err.message }, 'stop failed'),
    );
  }

  private pollSoon(node: NodeEntry): void {
    if (node.busyWith) void this.checkRun(node, node.busyWith);
  }

  private watch(node: NodeEntry): void {
    this.watched.add(node);
    const signal = AbortSignal.any([node.abort.signal, this.stopping.signal]);
    void this.probeLoop(node, signal);
    void this.followLoop(node, signal);
  }

  private wait(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const t = setTimeout(done, timerDelay(ms));
      function done() {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    });
  }

  /** Health probes; the first answer after silence reconciles the node and lets work flow to it. */
  private async probeLoop(node: NodeEntry, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        const { storageProblem, waitingFor } = await node.client.health(signal);
        if (signal.aborted || this.stopped) return;
        node.lastSeen = this.queue.now();
        if (waitingFor.join('\n') !== node.waitingFor.join('\n')) {
          const wasStarting = node.waitingFor.length > 0;
          node.waitingFor = waitingFor;
          this.registry.changed(node);
          if (wasStarting && waitingFor.length === 0) this.kick();
        }
        if (storageProblem !== node.storageProblem) {
          if (storageProblem) this.opts.log.error({ node: node.name }, `node ${node.name}: ${storageProblem}`);
          else this.opts.log.info({ node: node.name }, `node ${node.name}: its disk problem is resolved`);
          node.storageProblem = storageProblem;
          this.registry.changed(node);
          if (!storageProblem) this.kick();
        }
        if (node.online !== true) {
          const away = node.offlineSinceMono === null ? null : this.queue.mono() - node.offlineSinceMono;
          await this.readLimits(node, signal);
          node.online = true;
          node.offlineSince = null;
          node.offlineSinceMono = null;
          node.lost = false;
          node.detail = null;
          this.opts.log.info(
            { node: node.name, ...(away === null ? {} : { unreachable_s: Math.round(away / 1000) }) },
            away === null ? 'node online' : 'node answers again; its runs are taken from its own records',
          );
          await this.reconcile(node);
          this.registry.changed(node);
          this.kick();
        } else if (
          this.queue.mono() - node.limitsReadAt > LIMITS_REFRESH_MS ||
          // A node without a usable runner is asked at every probe, so work flows the moment it has one again.
          node.runner?.available === false
        ) {
          await this.readLimits(node, signal);
        }
      } catch (err) {
        if (signal.aborted || this.stopped) return;
        this.markOffline(node, (err as Error).message);
      }
      if (this.stopped) return;
      this.enforceLimits(node);
      await this.wait(node.online ? this.opts.healthIntervalMs : Math.min(this.opts.healthIntervalMs, 2000), signal);
    }
  }

  /** Reads the longest run the node takes from its /api/status (kept as it was when the node does not answer). */
  private async readLimits(node: NodeEntry, signal: AbortSignal): Promise<void> {
    try {
      const { maxDurationS: max, runner, twin } = await node.client.limits(signal);
      node.limitsReadAt = this.queue.mono();
      if (twin?.maxTimeScale !== node.twin?.maxTimeScale || twin?.timeScale !== node.twin?.timeScale) {
        node.twin = twin;
        this.registry.changed(node);
        // A node that turned into a twin may take the pre-flights waiting for one.
        if (twin) this.kick();
      }
      if (max !== node.maxDurationS) {
        node.maxDurationS = max;
        if (max !== null) this.opts.log.info({ node: node.name, max_duration_s: max }, 'node run limit');
        this.registry.changed(node);
      }
      if (runner?.available !== node.runner?.available || runner?.detail !== node.runner?.detail) {
        const recovered = node.runner?.available === false && runner?.available !== false;
        if (runner?.available === false)
          this.opts.log.error({ node: node.name }, `node ${node.name} cannot run experiments: ${runner.detail}`);
        else if (recovered) this.opts.log.info({ node: node.name }, `node ${node.name} can run experiments again`);
        node.runner = runner;
        this.registry.changed(node);
        if (recovered) {
          node.retryAt = 0;
          this.kick();
        }
      }
    } catch {
      // Not answering /api/status (an older node, or a blip): the last known limit stands.
    }
  }

  private markOffline(node: NodeEntry, why: string): void {
    if (node.online === false) return;
    node.online = false;
    node.offlineSince = this.queue.now();
    node.offlineSinceMono = this.queue.mono();
    node.lost = false;
    node.detail = why;
    this.opts.log.warn(
      { node: node.name, why, running_experiment: node.busyWith },
      node.busyWith
        ? 'node unreachable; its run is presumed to go on and is taken from its records when it answers'
        : 'node offline',
    );
    this.registry.changed(node);
  }

  /** Applies the run limits and the lost timeout to every node now (each probe does it for its node). */
  checkLimits(): void {
    for (const node of this.registry.list()) this.enforceLimits(node);
  }

  /**
   * A run past its maximum duration (on the hub's monotonic timeline) is stopped; the node should already have. A
   * node silent past the lost timeout is reported lost, once; what it runs is never given up for that: it goes on
   * there, and its end is taken from the node's record when it answers.
   */
  private enforceLimits(node: NodeEntry): void {
    const now = this.queue.mono();
    if (
      node.online === false &&
      !node.lost &&
      node.offlineSinceMono !== null &&
      now - node.offlineSinceMono > this.opts.lostTimeoutMs
    ) {
      node.lost = true;
      const silentS = Math.round((now - node.offlineSinceMono) / 1000);
      node.detail = `${node.detail ?? 'not answering'}; silent for over ${formatSeconds(this.opts.lostTimeoutMs / 1000)} (BIOREACTOR_NODE_LOST_TIMEOUT_S)${node.busyWith ? `: its run ${node.busyWith} stays running here until the node says how it ended` : ''}`;
      this.opts.log.warn(
        { node: node.name, silent_s: silentS, running_experiment: node.busyWith },
        'node lost: nothing new goes to it; a run it has stays running until the node reports its end',
      );
      this.registry.changed(node);
    }
    for (const row of this.queue.running()) {
      if (row.node !== node.name || row.started_mono === null) continue;
      const limit = row.started_mono + row.max_duration_s * 1000 + (this.opts.overtimeGraceMs ?? 60_000);
      if (node.online && row.dispatched && now > limit && !this.overtime.has(row.id)) {
        this.overtime.add(row.id);
        this.opts.log.warn(
          {
            experiment_id: row.id,
            max_duration_s: row.max_duration_s,
            elapsed_s: Math.round((now - row.started_mono) / 1000),
          },
          'run past its maximum duration; stopping it',
        );
        this.stopInBackground(node, row.id);
      }
    }
  }

  /** Follows the node's run events; without a stream (or between reconnects) polls the occupying run. */
  private async followLoop(node: NodeEntry, signal: AbortSignal): Promise<void> {
    let streaming = false;
    const poller = (async () => {
      while (!signal.aborted) {
        // With a live stream polling is only a safety net, so it runs five times less often.
        await this.wait(streaming ? this.opts.pollMs * 5 : this.opts.pollMs, signal);
        if (node.online === true && node.busyWith && !node.starting) await this.checkRun(node, node.busyWith);
      }
    })();
    while (!signal.aborted) {
      if (node.online !== true) {
        await this.wait(Math.min(this.opts.healthIntervalMs, 500), signal);
        continue;
      }
      try {
        const events = await node.client.openRunEvents(signal);
        if (!events) {
          // No event stream on this node: polling alone, checking again later in case it is upgraded.
          await this.wait(60_000, signal);
          continue;
        }
        streaming = true;
        // Catch up on what happened before the stream opened.
        if (node.busyWith) void this.checkRun(node, node.busyWith);
        for await (const run of events) this.onRun(node, run);
      } catch (err) {
        if (signal.aborted) break;
        this.opts.log.warn({ node: node.name, err: (err as Error).message }, 'node event stream broke');
      }
      streaming = false;
      await this.wait(this.opts.pollMs, signal);
    }
    await poller;
  }

  private async checkRun(node: NodeEntry, id: string): Promise<void> {
    try {
      const run = await node.client.run(id);
      if (this.stopped) return;
      if (run) this.onRun(node, run);
      else if (node.busyWith === id) await this.reconcile(node);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'NODE_UNREACHABLE') this.markOffline(node, err.message);
    }
  }

  /** One report of a run from a node (event or poll). */
  private onRun(node: NodeEntry, run: RunRecord): void {
    if (this.stopped) return;
    const row = this.queue.get(run.experiment_id);
    if (!isRunFinal(run.status)) {
      if (row?.status === 'running' && row.node === node.name && !row.dispatched) this.queue.markDispatched(row.id);
      return;
    }
    if (row?.status === 'running' && row.node === node.name) {
      // The node's record is the truth about its run, times included (it may have ended while the hub was away).
      const o = outcomeOf(run, this.overtime.has(row.id));
      this.queue.settle(row.id, o.status, o.exitCode, o.error, {
        startedAt: run.start_time,
        completedAt: run.end_time,
      });
      this.overtime.delete(row.id);
      if (row.time_scale !== null) void this.recordPreflight(node, row.id);
    }
    if (node.busyWith === run.experiment_id && !node.starting) {
      node.busyWith = null;
      node.detail = null;
      this.registry.changed(node);
      this.kick();
    }
  }

  /**
   * Brings the hub's view of one node in line with the node's own records: runs the hub thinks are running there
   * are followed or settled, and runs the hub did not expect are stopped (if cancelled here) or waited out.
   */
  async reconcile(node: NodeEntry): Promise<void> {
    if (this.stopped) return;
    try {
      for (const row of this.queue.running()) {
        if (row.node !== node.name || (node.starting && node.busyWith === row.id)) continue;
        const run = await node.client.run(row.id);
        if (this.stopped) return;
        if (!run) {
          if (row.dispatched) {
            this.queue.settle(row.id, 'interrupted', null, `Node '${node.name}' has no record of this run any more`);
          } else {
            this.queue.requeue(row.id);
          }
          if (node.busyWith === row.id) node.busyWith = null;
          continue;
        }
        node.busyWith = row.id;
        this.onRun(node, run);
      }
      let list: { experiment_id: string; status: string }[] = [];
      try {
        list = await node.client.list();
      } catch (err) {
        if (err instanceof ApiError && err.code === 'NODE_UNREACHABLE') throw err;
      }
      if (this.stopped) return;
      const live = list.filter((r) => r.status === 'starting' || r.status === 'running');
      for (const r of live) {
        const row = this.queue.get(r.experiment_id);
        if (row?.status === 'running' && row.node === node.name) continue;
        node.busyWith = r.experiment_id;
        // Cancelled while the node was away (or never ours to run now): stop it.
        if (row && row.status !== 'running') this.stopInBackground(node, r.experiment_id);
      }
      if (live.length === 0 && node.busyWith && !this.queue.running().some((r) => r.id === node.busyWith)) {
        node.busyWith = null;
      }
    } catch (err) {
      if (this.stopped) return;
      if (err instanceof ApiError && err.code === 'NODE_UNREACHABLE') this.markOffline(node, err.message);
      else this.opts.log.error({ node: node.name, err }, 'reconciling the node failed');
    }
    this.registry.changed(node);
    this.kick();
  }
}
