// The hub's domain parts wired together: queue (SQLite), node registry, dispatcher, script validator, views.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Clock, clockWithWall, systemClock, Timeline } from './clock.js';
import { type HubConfig, retentionOf } from './config.js';
import { NODE_STREAM_DEFAULTS, type NodeStreamOptions, NodeStreams } from './nodes/node-stream.js';
import { NodeRegistry } from './nodes/registry.js';
import { WebhookNotifier } from './notifications/webhook.js';
import { Dispatcher, type DispatcherOptions } from './queue/dispatcher.js';
import { HubDurations } from './queue/duration-policy.js';
import { importOriginal, ORIGINAL_QUEUE_FILE, type OriginalQueueFile } from './queue/original-json.js';
import { ExperimentQueue } from './queue/queue.js';
import { type Db, openDatabase, readMeta, writeMeta } from './queue/store.js';
import { QueueViews } from './queue/views.js';
import { ScriptValidator } from './validation/script-validator.js';

export const DATABASE_FILE = 'hub.sqlite';

/** How often the wall clock is compared with the monotonic one (steps are logged) and the timeline saved. */
const CLOCK_CHECK_MS = 10_000;
const TIMELINE_KEY = 'timeline';

export interface HubOptions {
  /** Wall and monotonic clocks (tests move them); the system's by default. */
  clock?: Clock;
  /** A wall clock alone, over the system's monotonic clock (tests that only move the date). */
  now?: () => number;
  log: DispatcherOptions['log'];
  /** Overrides BIOREACTOR_NODE_API_URL parsing (tests). */
  nodeUrls?: string[];
  /** Ring size, idle close and reconnect waits of the relayed node streams (tests shorten them). */
  nodeStream?: Partial<Omit<NodeStreamOptions, 'log'>>;
}

export function nodeUrlsOf(config: HubConfig): string[] {
  return config.BIOREACTOR_NODE_API_URL.split(',')
    .map((u) => u.trim())
    .filter((u) => u !== '');
}

export class Hub {
  readonly db: Db;
  readonly queue: ExperimentQueue;
  readonly registry: NodeRegistry;
  readonly dispatcher: Dispatcher;
  /** The nodes' live streams, each relayed to every follower over one connection. */
  readonly nodeStreams: NodeStreams;
  readonly validator: ScriptValidator;
  readonly views: QueueViews;
  readonly durations: HubDurations;
  /** Monotonic time kept across restarts: every duration the hub acts on is measured on it. */
  readonly timeline: Timeline;
  /** Set when BIOREACTOR_NOTIFY_URL is. */
  readonly notifier: WebhookNotifier | undefined;
  private clockTimer: NodeJS.Timeout | undefined;
  private clockChecks = 0;

  constructor(
    readonly config: HubConfig,
    private readonly opts: HubOptions,
  ) {
    const clock = opts.clock ?? (opts.now ? clockWithWall(opts.now) : systemClock);
    const now = () => clock.wall();
    this.db = openDatabase(join(config.DATA_DIR, DATABASE_FILE));
    this.timeline = new Timeline(
      clock,
      { get: () => readMeta(this.db, TIMELINE_KEY), set: (v) => writeMeta(this.db, TIMELINE_KEY, v) },
      opts.log,
    );
    const retention = retentionOf(config);
    this.queue = new ExperimentQueue(this.db, {
      maxActivePerUser: config.BIOREACTOR_MAX_ACTIVE_PER_USER,
      retention,
      now,
      mono: () => this.timeline.now(),
      log: opts.log,
    });
    const adopted = this.queue.adoptLegacyRows();
    if (adopted > 0) opts.log.info({ rows: adopted }, 'experiments from before monotonic run times were given them');
    opts.log.info(
      retention ? { retention: retention.source, action: retention.action } : { retention: 'off' },
      retention
        ? `finished experiments are ${retention.action === 'delete' ? 'deleted' : 'archived'} once they ended longer ago than ${retention.source} says; each one is logged`
        : 'finished experiments are kept until their owner or an admin deletes them (no BIOREACTOR_RETENTION_DAYS)',
    );
    this.registry = new NodeRegistry(this.db, {
      token: config.BIOREACTOR_API_TOKEN,
      timeoutMs: config.BIOREACTOR_NODE_TIMEOUT_MS,
      now,
    });
    this.registry.load(opts.nodeUrls ?? nodeUrlsOf(config));
    this.durations = new HubDurations(this.registry, {
      hubLimitS: config.BIOREACTOR_MAX_DURATION_LIMIT_S,
      labDefaultS: config.BIOREACTOR_DEFAULT_MAX_DURATION_S,
    });
    this.dispatcher = new Dispatcher(this.queue, this.registry, {
      pollMs: config.BIOREACTOR_NODE_POLL_MS,
      healthIntervalMs: config.BIOREACTOR_NODE_HEALTH_INTERVAL_MS,
      lostTimeoutMs: config.BIOREACTOR_NODE_LOST_TIMEOUT_S * 1000,
      sweepIntervalMs: config.BIOREACTOR_SWEEP_INTERVAL_S * 1000,
      log: opts.log,
    });
    this.nodeStreams = new NodeStreams(this.registry, {
      ...NODE_STREAM_DEFAULTS,
      connectTimeoutMs: config.BIOREACTOR_NODE_TIMEOUT_MS,
      ...opts.nodeStream,
      log: opts.log,
    });
    this.validator = new ScriptValidator({
      python: config.BIOREACTOR_PYTHON,
      maxBytes: config.BIOREACTOR_MAX_SCRIPT_BYTES,
      onUnavailable: (why) => opts.log.error({ why }, 'script syntax and import checks are off'),
    });
    this.views = new QueueViews(this.queue, this.registry, this.durations, (t) => this.timeline.wallAt(t));
    if (config.BIOREACTOR_NOTIFY_URL) {
      this.notifier = new WebhookNotifier(this.db, this.queue, {
        url: config.BIOREACTOR_NOTIFY_URL,
        retryMs: config.BIOREACTOR_NOTIFY_RETRY_MS,
        log: opts.log,
        now,
        mono: () => this.timeline.now(),
      });
    }
    this.importOriginalFile(opts.log);
  }

  /** An original installation's experiment_queue.json in DATA_DIR is taken over on first start. */
  private importOriginalFile(log: HubOptions['log']): void {
    const path = join(this.config.DATA_DIR, ORIGINAL_QUEUE_FILE);
    if (!existsSync(path)) return;
    try {
      const file = JSON.parse(readFileSync(path, 'utf8')) as OriginalQueueFile;
      const result = importOriginal(this.queue, file, this.durations.decide(undefined).maxDurationS);
      if (result.imported > 0 || result.skipped.length > 0) log.info(result, `imported ${path}`);
    } catch (err) {
      log.error({ err, path }, 'could not import the original queue file; it is left as it is');
    }
  }

  start(): void {
    this.validator.warm();
    this.notifier?.start();
    this.dispatcher.start();
    this.clockTimer = setInterval(() => this.tick(), CLOCK_CHECK_MS);
    this.clockTimer.unref();
  }

  /** Compares the clocks (a step is logged) and, every minute, saves the timeline for the next start. */
  tick(): void {
    try {
      this.timeline.checkClock();
      if (++this.clockChecks % 6 === 0) this.timeline.checkpoint();
    } catch (err) {
      this.opts.log.error({ err }, 'clock check failed');
    }
  }

  stop(): void {
    clearInterval(this.clockTimer);
    try {
      this.timeline.checkpoint();
    } catch {
      // The database may already be unusable; the next start then measures from the last checkpoint.
    }
    this.dispatcher.stop();
    this.nodeStreams.close();
    this.notifier?.stop();
    this.validator.close();
    this.db.close();
  }
}
