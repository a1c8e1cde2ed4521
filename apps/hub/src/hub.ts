// The hub's domain parts wired together: queue (SQLite), node registry, dispatcher, script validator, views.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HubConfig } from './config.js';
import { NodeRegistry } from './nodes/registry.js';
import { WebhookNotifier } from './notifications/webhook.js';
import { Dispatcher, type DispatcherOptions } from './queue/dispatcher.js';
import { importOriginal, ORIGINAL_QUEUE_FILE, type OriginalQueueFile } from './queue/original-json.js';
import { ExperimentQueue } from './queue/queue.js';
import { type Db, openDatabase } from './queue/store.js';
import { QueueViews } from './queue/views.js';
import { ScriptValidator } from './validation/script-validator.js';

export const DATABASE_FILE = 'hub.sqlite';

export interface HubOptions {
  /** Clock in ms since the epoch (tests move it). */
  now?: () => number;
  log: DispatcherOptions['log'];
  /** Overrides BIOREACTOR_NODE_API_URL parsing (tests). */
  nodeUrls?: string[];
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
  readonly validator: ScriptValidator;
  readonly views: QueueViews;
  /** Set when BIOREACTOR_NOTIFY_URL is. */
  readonly notifier: WebhookNotifier | undefined;

  constructor(
    readonly config: HubConfig,
    opts: HubOptions,
  ) {
    const now = opts.now ?? Date.now;
    this.db = openDatabase(join(config.DATA_DIR, DATABASE_FILE));
    this.queue = new ExperimentQueue(this.db, {
      maxActivePerUser: config.BIOREACTOR_MAX_ACTIVE_PER_USER,
      retentionMs: config.BIOREACTOR_RETENTION_HOURS * 3600_000,
      now,
    });
    this.registry = new NodeRegistry(this.db, {
      token: config.BIOREACTOR_API_TOKEN,
      timeoutMs: config.BIOREACTOR_NODE_TIMEOUT_MS,
      now,
    });
    this.registry.load(opts.nodeUrls ?? nodeUrlsOf(config));
    this.dispatcher = new Dispatcher(this.queue, this.registry, {
      pollMs: config.BIOREACTOR_NODE_POLL_MS,
      healthIntervalMs: config.BIOREACTOR_NODE_HEALTH_INTERVAL_MS,
      lostTimeoutMs: config.BIOREACTOR_NODE_LOST_TIMEOUT_S * 1000,
      sweepIntervalMs: config.BIOREACTOR_SWEEP_INTERVAL_S * 1000,
      log: opts.log,
    });
    this.validator = new ScriptValidator({
      python: config.BIOREACTOR_PYTHON,
      maxBytes: config.BIOREACTOR_MAX_SCRIPT_BYTES,
      onUnavailable: (why) => opts.log.error({ why }, 'script syntax and import checks are off'),
    });
    this.views = new QueueViews(this.queue, this.registry);
    if (config.BIOREACTOR_NOTIFY_URL) {
      this.notifier = new WebhookNotifier(this.db, this.queue, {
        url: config.BIOREACTOR_NOTIFY_URL,
        retryMs: config.BIOREACTOR_NOTIFY_RETRY_MS,
        log: opts.log,
        now,
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
      const result = importOriginal(this.queue, file, this.config.BIOREACTOR_DEFAULT_MAX_DURATION_S);
      if (result.imported > 0 || result.skipped.length > 0) log.info(result, `imported ${path}`);
    } catch (err) {
      log.error({ err, path }, 'could not import the original queue file; it is left as it is');
    }
  }

  start(): void {
    this.validator.warm();
    this.notifier?.start();
    this.dispatcher.start();
  }

  stop(): void {
    this.dispatcher.stop();
    this.notifier?.stop();
    this.validator.close();
    this.db.close();
  }
}
