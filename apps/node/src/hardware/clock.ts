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

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

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
