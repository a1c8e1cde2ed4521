// One follower of live data for every browser: the running experiment's CSV (through the hub, incrementally) or,
// with none running, the node's hardware samples. Browsers subscribe; nothing is fetched per browser.
import {
  ApiError,
  type DashboardSettings,
  type LiveSample,
  READING_KEYS,
  readingSpec,
  readingValue,
} from '@bioreactor/api';
import { CsvFollower, downsample } from './csv.js';

/** What `GET {node}/api/v3/state` returns, as far as the dashboard reads it: each component's state. */
export interface HardwareState {
  timestamp: string;
  components: Partial<
    Record<string, Record<string, unknown>> & {
      peltier_driver: { cutoff?: string | null } & Record<string, unknown>;
      pumps: { overflow_guard?: { tripped: string | null } } & Record<string, unknown>;
    }
  >;
}

/** The readings a live sample carries (readings.ts): the guide's columns and every reading the dashboard shows. */
export const LIVE_READINGS = READING_KEYS.filter((k) => readingSpec(k).guide || readingSpec(k).display);

/** The node's safety interlocks in force (over-temperature cutoff, overflow guard), as the dashboard shows them. */
export function interlocksOf(state: HardwareState): string[] {
  const out: string[] = [];
  const cutoff = state.components.peltier_driver?.cutoff;
  if (cutoff) out.push(`Heating refused: ${cutoff}`);
  const overflow = state.components.pumps?.overflow_guard?.tripped;
  if (overflow) out.push(`Adding liquid refused: ${overflow}`);
  return out;
}

export interface LiveDataDeps {
  /** The running experiment's id, null when none runs; throws when the hub cannot be asked. */
  runningExperiment(): Promise<string | null>;
  /** Bytes of an experiment's CSV from an offset (throws FILE_NOT_FOUND until the script writes it). */
  readCsv(experimentId: string, file: string, offset: number): Promise<{ bytes: Buffer; nextOffset: number }>;
  readHardware(): Promise<HardwareState>;
  settings(): DashboardSettings;
  now?: () => number;
  onError?: (message: string) => void;
}

export interface LiveEvent {
  id: string;
  event: 'snapshot' | 'sample' | 'safety';
  /** JSON, serialised once for every subscriber. */
  data: string;
}

export interface Snapshot {
  sample: LiveSample;
  history: LiveSample[];
  settings: DashboardSettings;
  connected_clients: number;
  /** Safety interlocks in force on the node; later changes come as `safety` events. */
  safety: string[];
}

/** Rows kept per source: a day of 10-second samples, or ~11 h of 2-second hardware samples. */
const HISTORY_LIMIT = 20_000;
/** Points sent as backfill; long runs are downsampled to this. */
export const BACKFILL_POINTS = 600;
/** Events kept for Last-Event-ID resumes (a few minutes at the default interval). */
const REPLAY_LIMIT = 300;
/** Above this many new rows in one read, clients get a fresh snapshot instead of a burst of samples. */
const BURST_LIMIT = 50;
/** Reads per tick at most (the node serves up to 1 MiB each); a larger backlog is caught up over several ticks. */
const MAX_CHUNKS_PER_TICK = 16;

export function hardwareSample(state: HardwareState): LiveSample {
  const sample: LiveSample = {
    timestamp: state.timestamp,
    epoch_ms: Date.parse(state.timestamp),
    status: 'success',
    source: 'hardware',
    experiment_id: null,
  };
  // Each reading of a component the node reports, in the table's order (the guide's first).
  for (const key of LIVE_READINGS) {
    const component = state.components[readingSpec(key).component];
    if (component) (sample as Record<string, unknown>)[key] = readingValue(key, component);
  }
  return sample;
}

export class LiveData {
  private readonly epoch: string;
  private seq = 0;
  private latest: LiveSample;
  private readonly hardwareHistory: LiveSample[] = [];
  private csvHistory: LiveSample[] = [];
  private csv: { follower: CsvFollower; file: string; offset: number } | undefined;
  private source: 'csv' | 'hardware' = 'hardware';
  private readonly replay: LiveEvent[] = [];
  private readonly subscribers = new Set<(event: LiveEvent) => void>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private ticking: Promise<void> | undefined;
  private lastError: string | undefined;
  private interlocks: string[] = [];
  private readonly now: () => number;

  constructor(private readonly deps: LiveDataDeps) {
    this.now = deps.now ?? Date.now;
    this.epoch = this.now().toString(36);
    this.latest = this.unknown('No data yet: the first sample is on its way');
  }

  get clientCount(): number {
    return this.subscribers.size;
  }

  get latestSample(): LiveSample {
    return this.latest;
  }

  /** Polls at the settings' interval until stop(); a tick never overlaps the previous one. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** New settings apply at once: a changed CSV name restarts the follow, a new interval the timer. */
  settingsChanged(): void {
    if (this.csv && this.csv.file !== this.deps.settings().csv_file_path) {
      this.csv = undefined;
      this.csvHistory = [];
    }
    this.broadcast('snapshot', this.snapshot());
    if (this.running) this.schedule(0);
  }

  private schedule(delayMs: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      void this.tick().finally(() => {
        if (this.running) this.schedule(this.deps.settings().update_interval * 1000);
      });
    }, delayMs);
    this.timer.unref();
  }

  /** One poll; concurrent callers share it. */
  tick(): Promise<void> {
    this.ticking ??= this.poll().finally(() => {
      this.ticking = undefined;
    });
    return this.ticking;
  }

  private unknown(message: string): LiveSample {
    return {
      timestamp: new Date(this.now()).toISOString(),
      epoch_ms: this.now(),
      status: 'error',
      source: 'unknown',
      message,
    };
  }

  private report(message: string): void {
    // Log a failure once when it starts, not every two seconds while it lasts.
    if (message !== this.lastError) this.deps.onError?.(message);
    this.lastError = message;
  }

  private async poll(): Promise<void> {
    let running: string | null = null;
    let hubProblem: string | undefined;
    try {
      running = await this.deps.runningExperiment();
    } catch (err) {
      hubProblem = (err as Error).message;
    }
    if (running) {
      const rows = await this.followCsv(running);
      if (rows !== undefined) {
        this.lastError = undefined;
        // The chart shows the experiment's rows; the node's interlocks matter most right then.
        await this.deps.readHardware().then(
          (state) => this.updateInterlocks(state),
          () => undefined,
        );
        return;
      }
    } else if (this.csv) {
      this.csv = undefined;
      this.csvHistory = [];
    }
    try {
      const state = await this.deps.readHardware();
      this.updateInterlocks(state);
      const sample = hardwareSample(state);
      if (running) sample.experiment_id = running;
      if (hubProblem) {
        this.report(`queue unknown: ${hubProblem}`);
        sample.message =
          'The experiment queue is not answering, so the dashboard shows the bioreactor’s own readings. It switches back by itself.';
      }
      const switched = this.switchSource('hardware');
      push(this.hardwareHistory, sample);
      this.latest = sample;
      // Back from an experiment's CSV: clients get the hardware history again, not one lone point.
      if (switched) this.broadcast('snapshot', this.snapshot());
      else this.broadcast('sample', sample);
      if (!hubProblem) this.lastError = undefined;
    } catch (err) {
      this.report(`No live data: ${(err as Error).message}${hubProblem ? `; ${hubProblem}` : ''}`);
      // The browser gets what it means and what to do; the addresses and socket errors are in the log.
      this.latest = this.unknown(
        'No live data: the bioreactor is not answering right now. Readings come back by themselves when it does; if this lasts more than a few minutes, tell the lab manager.',
      );
      this.broadcast('sample', this.latest);
    }
  }

  /** New CSV rows of the running experiment; undefined when there is no CSV to show (yet). */
  private async followCsv(experimentId: string): Promise<number | undefined> {
    const file = this.deps.settings().csv_file_path;
    if (!this.csv || this.csv.follower.experimentId !== experimentId || this.csv.file !== file) {
      this.csv = { follower: new CsvFollower(experimentId), file, offset: 0 };
      this.csvHistory = [];
    }
    const state = this.csv;
    const fresh: LiveSample[] = [];
    let count = 0;
    let last: LiveSample | undefined;
    try {
      for (let i = 0; i < MAX_CHUNKS_PER_TICK; i++) {
        const { bytes, nextOffset } = await this.deps.readCsv(experimentId, file, state.offset);
        if (this.csv !== state) return undefined;
        state.offset = nextOffset;
        for (const sample of state.follower.push(bytes)) {
          push(this.csvHistory, sample);
          count++;
          last = sample;
          // Only a few rows go out one by one; a backlog goes out as one snapshot.
          if (fresh.length <= BURST_LIMIT) fresh.push(sample);
        }
        if (bytes.length === 0) break;
      }
    } catch (err) {
      if (err instanceof ApiError && (err.code === 'FILE_NOT_FOUND' || err.code === 'EXPERIMENT_NOT_FOUND')) {
        return state.follower.rows > 0 ? 0 : undefined;
      }
      this.report(`Cannot follow ${file} of experiment ${experimentId}: ${(err as Error).message}`);
      return state.follower.rows > 0 ? 0 : undefined;
    }
    if (state.follower.rows === 0) return undefined;
    const switched = this.switchSource('csv');
    if (last) this.latest = last;
    if (switched || count > BURST_LIMIT) this.broadcast('snapshot', this.snapshot());
    else for (const sample of fresh) this.broadcast('sample', sample);
    return count;
  }

  private updateInterlocks(state: HardwareState): void {
    const now = interlocksOf(state);
    if (now.length === this.interlocks.length && now.every((text, i) => text === this.interlocks[i])) return;
    this.interlocks = now;
    this.broadcast('safety', { interlocks: now });
  }

  private switchSource(source: 'csv' | 'hardware'): boolean {
    if (this.source === source) return false;
    this.source = source;
    return true;
  }

  snapshot(points = BACKFILL_POINTS): Snapshot {
    const history = (this.source === 'csv' ? this.csvHistory : this.hardwareHistory).slice(-HISTORY_LIMIT);
    return {
      sample: this.latest,
      history: downsample(history, points),
      settings: this.deps.settings(),
      connected_clients: this.subscribers.size,
      safety: this.interlocks,
    };
  }

  private nextId(): string {
    this.seq++;
    return `${this.epoch}-${this.seq}`;
  }

  private broadcast(event: LiveEvent['event'], payload: unknown): void {
    const live: LiveEvent = { id: this.nextId(), event, data: JSON.stringify(payload) };
    if (event === 'sample') {
      this.replay.push(live);
      if (this.replay.length > REPLAY_LIMIT) this.replay.shift();
    } else this.replay.length = 0;
    for (const fn of this.subscribers) fn(live);
  }

  /**
   * Events a reconnecting client missed after `lastEventId`, or undefined when they cannot be replayed
   * (another server run, too old, or a snapshot since): the client then gets a fresh snapshot.
   */
  missedSince(lastEventId: string | undefined): LiveEvent[] | undefined {
    if (!lastEventId) return undefined;
    const [epoch, seqText] = lastEventId.split('-');
    const seq = Number(seqText);
    if (epoch !== this.epoch || !Number.isInteger(seq) || seq > this.seq) return undefined;
    if (seq === this.seq) return [];
    const first = this.replay[0];
    if (!first || Number(first.id.split('-')[1]) > seq + 1) return undefined;
    return this.replay.filter((e) => Number(e.id.split('-')[1]) > seq);
  }

  /** A snapshot event for a new client, with an id in the live sequence. */
  snapshotEvent(): LiveEvent {
    return { id: `${this.epoch}-${this.seq}`, event: 'snapshot', data: JSON.stringify(this.snapshot()) };
  }

  subscribe(fn: (event: LiveEvent) => void): () => void {
    this.subscribers.add(fn);
    return () => this.subscribers.delete(fn);
  }
}

function push(list: LiveSample[], sample: LiveSample): void {
  list.push(sample);
  // Trimmed in batches: dropping one point per push would cost O(n) each time on a long backlog.
  if (list.length > HISTORY_LIMIT * 1.25) list.splice(0, list.length - HISTORY_LIMIT);
}
