// Time for the hardware layer: real, scaled (simulation faster than real time) or manual (deterministic tests).

export interface Clock {
  /** Milliseconds since the epoch, as this clock sees it. */
  now(): number;
  /** Resolves after `ms` of this clock's time, or at once when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

function timerSleep(realMs: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, realMs));
    signal?.addEventListener('abort', done, { once: true });
  });
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) => timerSleep(ms, signal),
};

/** A clock that runs `factor` times faster than the wall clock, starting at `start`. */
export function createScaledClock(factor: number, start = Date.now()): Clock {
  if (!(factor > 0)) throw new Error('The time scale must be a positive number');
  const realStart = performance.now();
  return {
    now: () => start + (performance.now() - realStart) * factor,
    sleep: (ms, signal) => timerSleep(ms / factor, signal),
  };
}

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The longest delay setTimeout takes (2^31 - 1 ms); a longer one fires at once, so longer waits are stepped. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A simulation's clock whose rate can change while it runs (a pre-flight at 600x, then back to real time). */
export interface ScalableClock extends Clock {
  /** How many times faster than the wall clock it runs now. */
  readonly scale: number;
  /**
   * Runs `factor` times faster than the wall clock from this instant on. Answers the instant as both clocks read
   * it: another process maps its own time with `clockMs + (wall - wallMs) * factor`.
   */
  setScale(factor: number): { wallMs: number; clockMs: number };
  /** How far (ms of this clock) the work due was behind the time it was due at, at most, since the last call. */
  takeMaxLagMs(): number;
}

interface PacedSleeper {
  at: number;
  seq: number;
  wake: () => void;
}

/**
 * A clock for the simulation that runs `factor` times faster than the wall clock, paced: its sleepers wake in time
 * order at exactly their time, each one's work settling before the next, and time never passes a sleeper that has
 * not woken yet. A busy event loop therefore makes the simulated world wait instead of jumping ahead (at 600x, 5 ms
 * of stall would otherwise be 3 s of the vessel's time, and every keep-alive and freshness check would fail); the
 * clock then catches up as fast as the work allows.
 */
export function createScalableClock(factor = 1, start = Date.now()): ScalableClock {
  if (!(factor > 0)) throw new Error('The time scale must be a positive number');
  let scale = factor;
  let anchorReal = performance.now();
  let anchorClock = start;
  let current = start;
  let seq = 0;
  let maxLag = 0;
  const sleepers: PacedSleeper[] = [];
  let pacer: NodeJS.Timeout | undefined;
  let firing = false;
  const target = () => anchorClock + (performance.now() - anchorReal) * scale;
  const now = () => {
    // While a sleeper's work settles, time stays at its moment: the next one is not due before it has run.
    if (firing) return current;
    const head = sleepers[0];
    const t = head ? Math.min(target(), head.at) : target();
    if (t > current) current = t;
    return current;
  };
  const schedule = () => {
    clearTimeout(pacer);
    pacer = undefined;
    const head = sleepers[0];
    if (!head || firing) return;
    const wait = (head.at - target()) / scale;
    pacer = setTimeout(() => void fire(), Math.min(Math.max(0, wait), MAX_TIMER_MS));
  };
  const fire = async () => {
    if (firing) return;
    firing = true;
    try {
      for (;;) {
        const head = sleepers[0];
        const t = target();
        if (!head || head.at > t) break;
        sleepers.shift();
        maxLag = Math.max(maxLag, t - head.at);
        if (head.at > current) current = head.at;
        head.wake();
        await settle();
      }
    } finally {
      firing = false;
      schedule();
    }
  };
  return {
    now,
    get scale() {
      return scale;
    },
    sleep(ms, signal) {
      return new Promise<void>((resolve) => {
        if (signal?.aborted) return resolve();
        const abort = () => {
          const i = sleepers.indexOf(sleeper);
          if (i >= 0) sleepers.splice(i, 1);
          if (i === 0) schedule();
          resolve();
        };
        const sleeper: PacedSleeper = {
          at: now() + Math.max(0, ms),
          seq: seq++,
          wake: () => {
            signal?.removeEventListener('abort', abort);
            resolve();
          },
        };
        let i = sleepers.length;
        while (i > 0 && (sleepers[i - 1] as PacedSleeper).at > sleeper.at) i--;
        sleepers.splice(i, 0, sleeper);
        signal?.addEventListener('abort', abort, { once: true });
        if (i === 0) schedule();
      });
    },
    setScale(next) {
      if (!(next > 0)) throw new Error('The time scale must be a positive number');
      const clockMs = now();
      anchorReal = performance.now();
      anchorClock = clockMs;
      scale = next;
      schedule();
      return { wallMs: Date.now(), clockMs };
    },
    takeMaxLagMs() {
      const lag = maxLag;
      maxLag = 0;
      return lag;
    },
  };
}

/** Whether a clock is a simulation's clock whose rate can change. */
export function isScalableClock(clock: Clock): clock is ScalableClock {
  return typeof (clock as Partial<ScalableClock>).setScale === 'function';
}

export interface ManualClock extends Clock {
  /** Moves time forward by `ms`, waking every sleeper in order and letting its continuation run. */
  advance(ms: number): Promise<void>;
  /**
   * Moves time forward by `ms` as a stalled process sees it (a blocked event loop, a paused container): nothing
   * runs meanwhile, then every overdue sleeper wakes, in order, all late.
   */
  stall(ms: number): Promise<void>;
  /** Sleepers not yet woken. */
  readonly pending: number;
}

/** Time that only moves when a test says so; sleepers wake in time order, each one's work settling first. */
export function createManualClock(start = Date.UTC(2026, 0, 1)): ManualClock {
  let now = start;
  let seq = 0;
  const timers: { at: number; seq: number; wake: () => void }[] = [];
  return {
    now: () => now,
    sleep(ms, signal) {
      return new Promise<void>((resolve) => {
        if (signal?.aborted) return resolve();
        const abort = () => {
          const i = timers.indexOf(timer);
          if (i >= 0) timers.splice(i, 1);
          resolve();
        };
        // Woken by time, it lets go of the signal: a long-lived signal would otherwise collect a listener per sleep.
        const wake = () => {
          signal?.removeEventListener('abort', abort);
          resolve();
        };
        const timer = { at: now + Math.max(0, ms), seq: seq++, wake };
        timers.push(timer);
        signal?.addEventListener('abort', abort, { once: true });
      });
    },
    get pending() {
      return timers.length;
    },
    async advance(ms) {
      const target = now + ms;
      await settle();
      for (;;) {
        timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
        const next = timers[0];
        if (!next || next.at > target) break;
        timers.shift();
        now = Math.max(now, next.at);
        next.wake();
        await settle();
      }
      now = target;
      await settle();
    },
    async stall(ms) {
      now += ms;
      await this.advance(0);
    },
  };
}
