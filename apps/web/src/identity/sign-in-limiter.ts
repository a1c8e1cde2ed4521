// Slows password guessing without letting anyone lock another user out. Three limits, each a delay that doubles with
// every further failure once a few failures are free; the longest delay of the three applies:
//
// - one client and one name (the client's address and the lower-cased name): after 3 failures 1 s, then 2, 4, 8 s …
//   up to 15 minutes. Forgotten when that client signs in to that name, or 24 hours after its last failure. This is
//   the hard limit on guessing one password, and it is scoped to the client, so failures from an attacker's address
//   never delay the real user signing in from another.
// - one client, any names: after 10 failures within an hour 1 s, doubling up to 15 minutes. Slows one client guessing
//   many names (or one password against many names). A success does not reset it, or signing in to one's own account
//   between guesses would.
// - one name, any clients: after 10 failures within 15 minutes 1 s, doubling, but never more than 30 s; reset by a
//   successful sign-in. A soft limit on purpose: many addresses (a botnet) guessing one name are slowed to about two
//   guesses a minute, but as anyone can make these failures, a long delay here would let anyone lock the real user
//   out. So it is capped at 30 s, and a client that signed in to the name within the last 30 days is not held by it
//   at all.
//
// Delays count from the last failure of the same kind; attempts answered with a wait are not failures and do not
// extend it. An attempt counts as a failure from the moment it is let through until it succeeds, so guesses sent in
// parallel are held back like guesses sent one after another. Memory is bounded: old entries are pruned, and each map keeps at most MAX_ENTRIES keys.

export type SignInScope = 'client-name' | 'client' | 'name';

interface Rule {
  /** Failures allowed without delay. */
  free: number;
  /** Delay after the first failure beyond the free ones; doubles with each further one. */
  firstDelayMs: number;
  maxDelayMs: number;
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export const SIGN_IN_RULES: Record<SignInScope, Rule> = {
  'client-name': { free: 3, firstDelayMs: SECOND, maxDelayMs: 15 * MINUTE },
  client: { free: 10, firstDelayMs: SECOND, maxDelayMs: 15 * MINUTE },
  name: { free: 10, firstDelayMs: SECOND, maxDelayMs: 30 * SECOND },
};
/** A client-and-name pair's failures are forgotten this long after its last failure. */
const PAIR_FORGET_MS = DAY;
/** Failures of one client (any names) count for an hour. */
const CLIENT_WINDOW_MS = HOUR;
/** Failures for one name (any clients) count for 15 minutes. */
const NAME_WINDOW_MS = 15 * MINUTE;
/** A client that signed in to a name within this time is not held by that name's soft limit. */
const KNOWN_CLIENT_MS = 30 * DAY;
const KNOWN_CLIENTS_PER_NAME = 8;
/** Beyond this many failures the delay no longer grows, so no more timestamps are kept. */
const KEPT_FAILURES = 32;
export const MAX_ENTRIES = 10_000;

export function delayAfter(rule: Rule, failures: number): number {
  if (failures < rule.free) return 0;
  return Math.min(rule.maxDelayMs, rule.firstDelayMs * 2 ** Math.min(failures - rule.free, 30));
}

/**
 * The key a client is known by: its IPv4 address, or the /64 prefix of an IPv6 one (a single host usually holds a
 * whole /64, so counting its addresses one by one would let it rotate through them).
 */
export function clientKey(ip: string): string {
  const address = ip.split('%')[0] ?? ip;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1]) return mapped[1];
  if (!address.includes(':')) return address;
  const groups = (part: string | undefined) =>
    part ? part.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g])) : [];
  const [head, tail] = address.split('::');
  const front = groups(head);
  const back = address.includes('::') ? groups(tail) : [];
  const full = [...front, ...Array<string>(Math.max(0, 8 - front.length - back.length)).fill('0'), ...back];
  return `${full
    .slice(0, 4)
    .map((g) => (Number.parseInt(g, 16) || 0).toString(16))
    .join(':')}::/64`;
}

export interface SignInWait {
  waitMs: number;
  /** The limit that holds the attempt back longest. */
  scope: SignInScope;
}

/** A map that keeps at most MAX_ENTRIES keys, most recently updated last, pruning with `expired` when full. */
class BoundedMap<V> extends Map<string, V> {
  constructor(private readonly expired: (value: V) => boolean) {
    super();
  }

  put(key: string, value: V): void {
    this.delete(key);
    if (this.size >= MAX_ENTRIES) {
      for (const [k, v] of this) if (this.expired(v)) this.delete(k);
      // Still nearly full: drop the least recently updated tenth, so this scan runs once per many insertions.
      for (const k of this.keys()) {
        if (this.size < MAX_ENTRIES * 0.9) break;
        this.delete(k);
      }
    }
    this.set(key, value);
  }
}

export class SignInLimiter {
  private readonly pairs: BoundedMap<{ failures: number; last: number }>;
  private readonly clients: BoundedMap<number[]>;
  private readonly names: BoundedMap<number[]>;
  /** Per name: the clients that signed in to it, and when. */
  private readonly known: BoundedMap<Map<string, number>>;

  constructor(private readonly now: () => number = Date.now) {
    this.pairs = new BoundedMap((p) => p.last + PAIR_FORGET_MS <= this.now());
    this.clients = new BoundedMap((list) => (list.at(-1) ?? 0) + CLIENT_WINDOW_MS <= this.now());
    this.names = new BoundedMap((list) => (list.at(-1) ?? 0) + NAME_WINDOW_MS <= this.now());
    this.known = new BoundedMap((m) => Math.max(0, ...m.values()) + KNOWN_CLIENT_MS <= this.now());
  }

  /** How many keys are held, all maps together (for tests of the memory bound). */
  get entries(): number {
    return this.pairs.size + this.clients.size + this.names.size + this.known.size;
  }

  private pair(client: string, name: string) {
    const key = `${clientKey(client)}\n${name.toLowerCase()}`;
    const entry = this.pairs.get(key);
    if (entry && entry.last + PAIR_FORGET_MS <= this.now()) {
      this.pairs.delete(key);
      return { key, entry: undefined };
    }
    return { key, entry };
  }

  private recent(map: BoundedMap<number[]>, key: string, windowMs: number): number[] {
    const since = this.now() - windowMs;
    const list = (map.get(key) ?? []).filter((t) => t > since);
    if (list.length === 0) map.delete(key);
    return list;
  }

  private isKnown(client: string, name: string): boolean {
    const seen = this.known.get(name.toLowerCase())?.get(clientKey(client));
    return seen !== undefined && seen + KNOWN_CLIENT_MS > this.now();
  }

  /** How long this client must wait before trying this name, or undefined when it may try now. */
  check(client: string, name: string): SignInWait | undefined {
    const now = this.now();
    const waits: SignInWait[] = [];
    const { entry } = this.pair(client, name);
    if (entry)
      waits.push({
        scope: 'client-name',
        waitMs: entry.last + delayAfter(SIGN_IN_RULES['client-name'], entry.failures) - now,
      });
    const byClient = this.recent(this.clients, clientKey(client), CLIENT_WINDOW_MS);
    if (byClient.length > 0)
      waits.push({
        scope: 'client',
        waitMs: (byClient.at(-1) ?? now) + delayAfter(SIGN_IN_RULES.client, byClient.length) - now,
      });
    const byName = this.recent(this.names, name.toLowerCase(), NAME_WINDOW_MS);
    if (byName.length > 0 && !this.isKnown(client, name))
      waits.push({
        scope: 'name',
        waitMs: (byName.at(-1) ?? now) + delayAfter(SIGN_IN_RULES.name, byName.length) - now,
      });
    const longest = waits.reduce<SignInWait | undefined>((a, b) => (a && a.waitMs >= b.waitMs ? a : b), undefined);
    return longest && longest.waitMs > 0 ? longest : undefined;
  }

  /** Counts a failure; returns its time, which `succeeded` takes to take it back. */
  failed(client: string, name: string): number {
    const now = this.now();
    const { key, entry } = this.pair(client, name);
    this.pairs.put(key, { failures: (entry?.failures ?? 0) + 1, last: now });
    const c = clientKey(client);
    this.clients.put(c, [...this.recent(this.clients, c, CLIENT_WINDOW_MS), now].slice(-KEPT_FAILURES));
    const n = name.toLowerCase();
    this.names.put(n, [...this.recent(this.names, n, NAME_WINDOW_MS), now].slice(-KEPT_FAILURES));
    return now;
  }

  /**
   * A sign-in succeeded: the failure counted for it (at `countedAt`) is taken back, the pair's and the name's
   * failures are forgotten, and the client is remembered as one that signs in to this name. The client's other
   * failures stay, or signing in to one's own account between guesses would reset them.
   */
  succeeded(client: string, name: string, countedAt?: number): void {
    const { key } = this.pair(client, name);
    this.pairs.delete(key);
    const c = clientKey(client);
    if (countedAt !== undefined) this.takeBack(this.clients, c, countedAt);
    const n = name.toLowerCase();
    this.names.delete(n);
    const seen = new Map(this.known.get(n));
    seen.delete(c);
    seen.set(c, this.now());
    // The most recent few clients of each name.
    for (const k of seen.keys()) if (seen.size > KNOWN_CLIENTS_PER_NAME) seen.delete(k);
    this.known.put(n, seen);
  }

  /** Takes back the failure counted at `countedAt` for an attempt that checked no password (it was refused first). */
  withdraw(client: string, name: string, countedAt: number): void {
    const { key, entry } = this.pair(client, name);
    if (entry && entry.failures > 1) entry.failures--;
    else if (entry) this.pairs.delete(key);
    this.takeBack(this.clients, clientKey(client), countedAt);
    this.takeBack(this.names, name.toLowerCase(), countedAt);
  }

  private takeBack(map: BoundedMap<number[]>, key: string, at: number): void {
    const list = map.get(key);
    const i = list?.lastIndexOf(at) ?? -1;
    if (!list || i < 0) return;
    list.splice(i, 1);
    if (list.length === 0) map.delete(key);
  }
}

/** "45 seconds", "2 minutes 8 seconds", "15 minutes". */
export function describeWait(ms: number): string {
  const total = Math.max(1, Math.ceil(ms / 1000));
  const minutes = Math.floor(total / 60);
  const seconds = total % 60;
  const unit = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  if (minutes === 0) return unit(seconds, 'second');
  return seconds === 0 ? unit(minutes, 'minute') : `${unit(minutes, 'minute')} ${unit(seconds, 'second')}`;
}
