// What `GET /api/v3/stream` carries, shared by every follower: the hardware's samples, actuator changes and
// interlocks, the run's state changes and its new CSV rows. Each event gets an id `<epoch>-<seq>` (epoch: when this
// node process started, so ids of an earlier process are never taken for this one's) and is kept in a bounded
// replay ring, so a follower that lost its connection gets exactly what it missed, or, when that is no longer in the
// ring, starts again from the current state of everything.
import { ACTUATOR_NAMES, EVENT_TYPES, type RunRecord } from '@bioreactor/api';
import { type ReplayEntry, ReplayLog } from '@bioreactor/service-kit';
import type { RunRows } from './experiments/csv-watch.js';
import { type ExperimentManager, publicRecord } from './experiments/manager.js';
import type { Hardware } from './hardware/index.js';

/** Events kept for resuming followers. */
export const REPLAY_EVENTS = 2000;
/** Characters of event data kept for resuming followers (run.rows events can be large; this JSON is ASCII bytes). */
export const REPLAY_BYTES = 8 * 1024 * 1024;

export type StreamEntry = ReplayEntry<{
  event: string;
  /** The JSON payload, encoded once for every follower. */
  data: string;
}>;

/** An event of a follower's first burst (the current state), without an id of its own. */
export interface SnapshotEvent {
  event: string;
  data: string;
}

export interface NodeStreamOptions {
  hardware: Hardware;
  /** The node's runs; absent on an experiment's own hardware API, which carries hardware events only. */
  manager?: ExperimentManager | undefined;
  replayEvents?: number;
  replayBytes?: number;
}

export class NodeStream {
  private readonly log: ReplayLog<{ event: string; data: string }>;
  private readonly listeners = new Set<(entry: StreamEntry) => void>();
  /** When each component last sampled or changed (node wall clock, ms). */
  private readonly lastAt = new Map<string, number>();
  private readonly startedAt = Date.now();
  private run: RunRecord | null = null;
  private readonly unsubscribe: (() => void)[] = [];

  constructor(private readonly opts: NodeStreamOptions) {
    this.log = new ReplayLog({
      maxEvents: opts.replayEvents ?? REPLAY_EVENTS,
      maxChars: opts.replayBytes ?? REPLAY_BYTES,
      epoch: String(Date.now()),
    });
  }

  /** When this node process started (ms): ids of an earlier process are never taken for this one's. */
  get epoch(): string {
    return this.log.epoch;
  }

  /** Listens to the hardware and the runs; the current run (or the newest one) is what a new follower gets. */
  async start(): Promise<void> {
    const { hardware, manager } = this.opts;
    const onSample = (event: { component: string; at_ms: number }) => {
      this.lastAt.set(event.component, event.at_ms);
      this.publish(EVENT_TYPES.componentSample, event);
    };
    const onChanged = (event: { component: string; at_ms: number }) => {
      this.lastAt.set(event.component, event.at_ms);
      this.publish(EVENT_TYPES.componentChanged, event);
    };
    const onSafety = (event: { interlocks: string[] }) => this.publish(EVENT_TYPES.safety, event);
    hardware.events.on('sample', onSample);
    hardware.events.on('changed', onChanged);
    hardware.events.on('safety', onSafety);
    this.unsubscribe.push(() => {
      hardware.events.off('sample', onSample);
      hardware.events.off('changed', onChanged);
      hardware.events.off('safety', onSafety);
    });
    if (!manager) return;
    const onRun = (record: RunRecord) => {
      this.run = record;
      this.publish(EVENT_TYPES.runUpdated, { experiment: record });
    };
    manager.on('run', onRun);
    this.unsubscribe.push(() => manager.off('run', onRun));
    const id = manager.activeExperimentId();
    const stored = id ? await manager.get(id) : (await manager.list())[0];
    // A run event that came while the list was read is newer.
    this.run ??= stored ? publicRecord(stored) : null;
  }

  stop(): void {
    for (const off of this.unsubscribe.splice(0)) off();
    this.listeners.clear();
  }

  /** New CSV rows of the running run (csv-watch.ts). */
  publishRows(rows: RunRows): void {
    this.publish(EVENT_TYPES.runRows, rows);
  }

  /** The id of the newest event (`<epoch>-0` before the first). */
  lastId(): string {
    return this.log.lastId;
  }

  private publish(event: string, payload: unknown): void {
    const entry = this.log.append({ event, data: JSON.stringify(payload) });
    for (const listener of this.listeners) listener(entry);
  }

  /**
   * The events after `lastEventId`, or undefined when they cannot all be given (an id of another node process, one
   * from the future, or one whose successors have left the ring): then the follower starts from the current state.
   */
  since(lastEventId: string | undefined): StreamEntry[] | undefined {
    return this.log.since(lastEventId);
  }

  /**
   * The current state of everything, as a new follower's first events: every component's state (actuators as
   * component.changed with source "current"), the interlocks in force, and the current run, else the newest one.
   */
  snapshot(): SnapshotEvent[] {
    const out: SnapshotEvent[] = [];
    const all = this.opts.hardware.allStates();
    for (const [component, state] of Object.entries(all.components)) {
      const at_ms = this.lastAt.get(component) ?? this.startedAt;
      if ((ACTUATOR_NAMES as readonly string[]).includes(component)) {
        out.push({
          event: EVENT_TYPES.componentChanged,
          data: JSON.stringify({ component, state, source: 'current', at_ms }),
        });
      } else out.push({ event: EVENT_TYPES.componentSample, data: JSON.stringify({ component, state, at_ms }) });
    }
    out.push({ event: EVENT_TYPES.safety, data: JSON.stringify({ interlocks: this.opts.hardware.interlocks() }) });
    if (this.run) out.push({ event: EVENT_TYPES.runUpdated, data: JSON.stringify({ experiment: this.run }) });
    return out;
  }

  /** Every event from now on; returns the unsubscribe. */
  subscribe(listener: (entry: StreamEntry) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
