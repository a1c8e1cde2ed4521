// The hub's clocks. The wall clock only labels moments for people (created_at, started_at …); every duration the
// hub acts on (a run's elapsed time and limit, a node's silence, retention, retries, backoff) is measured on the
// timeline: a monotonic clock kept in the database, so that it also runs across hub restarts. A step of the wall
// clock (NTP catching up, an operator setting the date, a Pi without a real-time clock) changes none of them; it is
// detected by comparing how far each clock moved, and logged.
import { readFileSync } from 'node:fs';
import { MAX_TIMER_MS } from '@bioreactor/api';

export interface Clock {
  /** Wall clock, ms since the epoch: for timestamps people read. It may step. */
  wall(): number;
  /** Monotonic ms from an arbitrary origin: never steps. */
  mono(): number;
  /**
   * Set when mono() is the machine's own monotonic clock (the same origin for every process until the next boot):
   * the boot's id. A restarted hub then knows exactly how long it was down.
   */
  readonly boot: string | undefined;
}

function readBootId(): string | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** process.hrtime is CLOCK_MONOTONIC on Linux: one origin per boot, shared by every process. */
export const systemClock: Clock = {
  wall: () => Date.now(),
  mono: () => Number(process.hrtime.bigint()) / 1e6,
  boot: readBootId(),
};

/** A wall clock of its own (tests that only move the date) over the system's monotonic clock. */
export function clockWithWall(wall: () => number): Clock {
  return { wall, mono: systemClock.mono, boot: systemClock.boot };
}

/** How far the two clocks may drift apart between checks before it counts as a step (NTP slews far less). */
export const CLOCK_STEP_THRESHOLD_MS = 2000;

interface Checkpoint {
  /** Timeline ms. */
  t: number;
  wall: number;
  mono: number;
  boot: string | null;
}

export interface TimelineStore {
  get(): string | undefined;
  set(value: string): void;
}

export interface TimelineLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** A detected step: how far the wall clock moved more (positive) or less than real time did. */
export interface ClockStep {
  step_ms: number;
  wall_before: string;
  wall_after: string;
}

/**
 * Monotonic milliseconds that survive restarts. It starts at the wall clock of the first start (so its numbers read
 * like dates near that moment) and from then on only moves with the monotonic clock: across a restart on the same
 * boot by exactly the time the hub was down; after a reboot by the wall clock's progress while down (never backwards),
 * which is the one case it cannot measure, and is logged.
 */
export class Timeline {
  private base: number;
  private monoAtBase: number;
  private lastCheck: { wall: number; mono: number };
  /** The last step detected, for /health and tests. */
  lastStep: ClockStep | null = null;

  constructor(
    readonly clock: Clock,
    private readonly store: TimelineStore,
    private readonly log: TimelineLog,
  ) {
    const mono = clock.mono();
    const wall = clock.wall();
    const saved = this.read();
    if (!saved) {
      this.base = wall;
    } else if (saved.boot !== null && saved.boot === (clock.boot ?? null) && mono >= saved.mono) {
      const down = mono - saved.mono;
      this.base = saved.t + down;
      const wallDown = wall - saved.wall;
      if (Math.abs(wallDown - down) > CLOCK_STEP_THRESHOLD_MS) {
        this.noteStep(wallDown - down, saved.wall + down, wall, 'while the hub was stopped');
      }
    } else {
      // Another boot (or no shared monotonic clock): the wall clock is the only witness of the gap.
      const down = Math.max(0, wall - saved.wall);
      this.base = saved.t + down;
      this.log.info(
        { down_s: Math.round(down / 1000) },
        'the machine restarted since the hub last ran; the time it was down is taken from the wall clock',
      );
    }
    this.monoAtBase = mono;
    this.lastCheck = { wall, mono };
    this.checkpoint();
  }

  private read(): Checkpoint | undefined {
    const raw = this.store.get();
    if (!raw) return undefined;
    try {
      const c = JSON.parse(raw) as Checkpoint;
      if ([c.t, c.wall, c.mono].every((v) => typeof v === 'number' && Number.isFinite(v))) return c;
    } catch {
      // A damaged checkpoint: start afresh from the wall clock.
    }
    return undefined;
  }

  /** Timeline ms now. */
  now(): number {
    return this.base + (this.clock.mono() - this.monoAtBase);
  }

  /** The wall-clock moment a timeline instant corresponds to, as the wall clock reads now (for display). */
  wallAt(t: number): number {
    return this.clock.wall() + (t - this.now());
  }

  /** Saves where the timeline is, so a restart continues from it. */
  checkpoint(): void {
    const c: Checkpoint = {
      t: this.now(),
      wall: this.clock.wall(),
      mono: this.clock.mono(),
      boot: this.clock.boot ?? null,
    };
    this.store.set(JSON.stringify(c));
  }

  /** Compares the wall clock's progress with the monotonic clock's since the last check; logs and returns a step. */
  checkClock(): ClockStep | null {
    const wall = this.clock.wall();
    const mono = this.clock.mono();
    const drift = wall - this.lastCheck.wall - (mono - this.lastCheck.mono);
    const before = this.lastCheck.wall + (mono - this.lastCheck.mono);
    this.lastCheck = { wall, mono };
    if (Math.abs(drift) <= CLOCK_STEP_THRESHOLD_MS) return null;
    return this.noteStep(drift, before, wall, 'while the hub ran');
  }

  private noteStep(stepMs: number, expectedWall: number, wall: number, when: string): ClockStep {
    const step: ClockStep = {
      step_ms: Math.round(stepMs),
      wall_before: new Date(expectedWall).toISOString(),
      wall_after: new Date(wall).toISOString(),
    };
    this.lastStep = step;
    this.log.warn(
      { ...step, step_s: Math.round(stepMs / 1000) },
      `the wall clock stepped ${stepMs > 0 ? 'forward' : 'back'} by ${Math.abs(Math.round(stepMs / 1000))} s ${when}; run times, node timeouts and retention are measured on the monotonic clock and do not move`,
    );
    return step;
  }
}

/** A delay setTimeout can take: never above 2^31-1 ms (longer ones would fire at once), never negative. */
export function timerDelay(ms: number): number {
  if (!Number.isFinite(ms)) return MAX_TIMER_MS;
  return Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil(ms)));
}
