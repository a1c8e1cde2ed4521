// The nodes the hub drives: those named in BIOREACTOR_NODE_API_URL plus those an admin added (kept in SQLite).
import { EventEmitter } from 'node:events';
import { ApiError, type NodeInfo, type NodeReadiness } from '@bioreactor/api';
import type { Db } from '../queue/store.js';
import { NodeClient } from './node-client.js';

export interface NodeEntry {
  name: string;
  url: string;
  source: 'config' | 'admin';
  client: NodeClient;
  /** Unknown until the first probe answers or fails. */
  online: boolean | null;
  /** Wall clock of the last answer, for display. */
  lastSeen: number | null;
  /** Wall clock when it stopped answering, for display (node_unreachable_since). */
  offlineSince: number | null;
  /** Timeline ms when it stopped answering: what the lost timeout is measured from. */
  offlineSinceMono: number | null;
  /** The lost timeout passed during this outage (logged once). */
  lost: boolean;
  /** The longest run it takes, as it advertises in /api/status (null: not said, or an older node). */
  maxDurationS: number | null;
  /**
   * A simulation (a twin) that runs pre-flights at accelerated time, as its /api/status says (experiment_limits.twin):
   * the largest time_scale a run may ask for. Null for real hardware, an older node, or not read yet.
   */
  twin: { timeScale: number; maxTimeScale: number } | null;
  /** Timeline ms when the limits were last read. */
  limitsReadAt: number;
  detail: string | null;
  /** What the node last said is wrong with its disk ("disk full: …"), or null. */
  storageProblem: string | null;
  /** Whether its experiment runner can run scripts, as its /api/status says (null: not said yet, or an older node). */
  runner: { available: boolean; detail: string } | null;
  /** Sensors whose first reading the node still waits for (its /health says `starting`); empty once ready. */
  waitingFor: string[];
  /** An admin drained it: it finishes what it runs and takes nothing new (kept in SQLite). */
  drained: boolean;
  /** The run occupying the node (ours or one the hub does not know); nothing new starts until it ends. */
  busyWith: string | null;
  /** A start is in flight. */
  starting: boolean;
  /** Starts are held back until then, in timeline ms (after the node refused one). */
  retryAt: number;
  backoffMs: number;
  /** Stops the node's probe and follower loops. */
  abort: AbortController;
}

export interface RegistryEvents {
  node: [entry: NodeEntry];
  removed: [name: string];
}

const NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** A readable name from a URL: its host, with the port when the host alone is taken. */
export function nameFromUrl(url: string, taken: (name: string) => boolean): string {
  const u = new URL(url);
  const host = u.hostname.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 50) || 'node';
  const candidates = [host, `${host}-${u.port || (u.protocol === 'https:' ? '443' : '80')}`];
  for (const c of candidates) if (!taken(c)) return c;
  let i = 2;
  while (taken(`${candidates[1]}-${i}`)) i++;
  return `${candidates[1]}-${i}`;
}

/** Whether a node can run experiments, and if not why: the first reason that holds, in the order of NODE_READINESS. */
export function readinessOf(entry: NodeEntry): {
  ready: boolean;
  readiness: NodeReadiness;
  readiness_detail: string | null;
} {
  const not = (readiness: NodeReadiness, detail: string) => ({ ready: false, readiness, readiness_detail: detail });
  if (entry.online !== true) return not('offline', entry.detail ?? 'not answering');
  if (entry.drained) return not('drained', 'drained by an admin: it finishes its run and takes no new ones');
  if (entry.storageProblem) return not('storage_problem', entry.storageProblem);
  if (entry.runner && !entry.runner.available)
    return not('runner_unavailable', entry.runner.detail || 'its experiment runner is not available');
  if (entry.waitingFor.length > 0)
    return not('starting', `starting: waiting for the first readings of ${entry.waitingFor.join(', ')}`);
  if (entry.busyWith || entry.starting) return { ready: true, readiness: 'busy', readiness_detail: null };
  return { ready: true, readiness: 'ready', readiness_detail: null };
}

export class NodeRegistry extends EventEmitter<RegistryEvents> {
  private readonly nodes = new Map<string, NodeEntry>();

  constructor(
    private readonly db: Db,
    private readonly opts: { token?: string | undefined; timeoutMs: number; now: () => number },
  ) {
    super();
  }

  /** Loads the configured URLs and the stored admin-added nodes. */
  load(configUrls: string[]): void {
    for (const url of configUrls) {
      if ([...this.nodes.values()].some((n) => n.url === url.replace(/\/+$/, ''))) continue;
      this.put(
        nameFromUrl(url, (n) => this.nodes.has(n)),
        url,
        'config',
      );
    }
    const stored = this.db.prepare('SELECT name, url FROM nodes ORDER BY added_at').all() as {
      name: string;
      url: string;
    }[];
    for (const s of stored) if (!this.nodes.has(s.name)) this.put(s.name, s.url, 'admin');
  }

  private put(name: string, url: string, source: NodeEntry['source']): NodeEntry {
    const entry: NodeEntry = {
      name,
      url: url.replace(/\/+$/, ''),
      source,
      client: new NodeClient({ name, url, token: this.opts.token, timeoutMs: this.opts.timeoutMs }),
      online: null,
      lastSeen: null,
      offlineSince: null,
      offlineSinceMono: null,
      lost: false,
      maxDurationS: null,
      twin: null,
      limitsReadAt: Number.NEGATIVE_INFINITY,
      detail: 'not contacted yet',
      storageProblem: null,
      runner: null,
      waitingFor: [],
      drained: this.drainedNames().has(name),
      busyWith: null,
      starting: false,
      retryAt: 0,
      backoffMs: 0,
      abort: new AbortController(),
    };
    this.nodes.set(name, entry);
    return entry;
  }

  add(name: string, url: string): NodeEntry {
    if (!NAME_PATTERN.test(name)) {
      throw new ApiError('VALIDATION_FAILED', 'A node name is 1-64 letters, digits, - or _');
    }
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new ApiError('VALIDATION_FAILED', `'${url}' is not a URL; give the node's address, e.g. http://pi-2:9000`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new ApiError('VALIDATION_FAILED', `'${url}' must start with http:// or https://`);
    }
    if (this.nodes.has(name)) throw new ApiError('INVALID_STATE', `A node named '${name}' is already registered`);
    const same = [...this.nodes.values()].find((n) => n.url === url.replace(/\/+$/, ''));
    if (same) throw new ApiError('INVALID_STATE', `${url} is already registered as node '${same.name}'`);
    this.db
      .prepare('INSERT INTO nodes (name, url, added_at) VALUES (?, ?, ?)')
      .run(name, url, new Date(this.opts.now()).toISOString());
    const entry = this.put(name, url, 'admin');
    this.emit('node', entry);
    return entry;
  }

  remove(name: string): NodeEntry {
    const entry = this.mustGet(name);
    if (entry.busyWith || entry.starting) {
      throw new ApiError(
        'INVALID_STATE',
        `Node '${name}' is running experiment '${entry.busyWith ?? 'being started'}'; cancel it or wait for it to end, then remove the node`,
      );
    }
    entry.abort.abort();
    this.nodes.delete(name);
    this.db.prepare('DELETE FROM nodes WHERE name = ?').run(name);
    this.emit('removed', name);
    return entry;
  }

  get(name: string): NodeEntry | undefined {
    return this.nodes.get(name);
  }

  mustGet(name: string): NodeEntry {
    const entry = this.nodes.get(name);
    if (!entry) {
      const known = [...this.nodes.keys()].join(', ') || 'none';
      throw new ApiError('NODE_NOT_FOUND', `No node named '${name}' (registered: ${known}); GET /api/nodes lists them`);
    }
    return entry;
  }

  list(): NodeEntry[] {
    return [...this.nodes.values()];
  }

  onlineNames(): string[] {
    return this.list()
      .filter((n) => n.online === true)
      .map((n) => n.name);
  }

  private drainedNames(): Set<string> {
    const rows = this.db.prepare('SELECT name FROM node_flags WHERE drained = 1').all() as { name: string }[];
    return new Set(rows.map((r) => r.name));
  }

  /** Drains a node (it finishes its run and takes no new ones) or enables it again; kept across restarts. */
  setDrained(name: string, drained: boolean): NodeEntry {
    const entry = this.mustGet(name);
    this.db
      .prepare(
        'INSERT INTO node_flags (name, drained, updated_at) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET drained = excluded.drained, updated_at = excluded.updated_at',
      )
      .run(name, drained ? 1 : 0, new Date(this.opts.now()).toISOString());
    entry.drained = drained;
    this.emit('node', entry);
    return entry;
  }

  /** Whether the node may be given a new experiment now (online, not drained, runner and disk fine, started). */
  canTakeWork(entry: NodeEntry): boolean {
    const r = readinessOf(entry);
    return r.readiness === 'ready';
  }

  changed(entry: NodeEntry): void {
    if (this.nodes.get(entry.name) === entry) this.emit('node', entry);
  }

  info(entry: NodeEntry): NodeInfo {
    return {
      name: entry.name,
      url: entry.url,
      online: entry.online === true,
      last_seen: entry.lastSeen === null ? null : new Date(entry.lastSeen).toISOString(),
      running_experiment: entry.busyWith,
      detail: entry.detail,
      unreachable_since:
        entry.online === false && entry.offlineSince !== null ? new Date(entry.offlineSince).toISOString() : null,
      max_duration_s: entry.maxDurationS,
      twin: entry.twin ? { time_scale: entry.twin.timeScale, max_time_scale: entry.twin.maxTimeScale } : null,
      storage_problem: entry.storageProblem,
      ...readinessOf(entry),
      drained: entry.drained,
    };
  }

  closeAll(): void {
    for (const n of this.nodes.values()) n.abort.abort();
  }
}
