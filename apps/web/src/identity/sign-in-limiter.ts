// Slows password guessing: after repeated failures for one user name, further attempts wait for a cooling-off time.

/** Failures allowed per name within the window before it locks. */
const MAX_FAILURES = 10;
const WINDOW_MS = 15 * 60 * 1000;

export class SignInLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(private readonly now: () => number = Date.now) {}

  private recent(name: string): number[] {
    const since = this.now() - WINDOW_MS;
    const list = (this.failures.get(name.toLowerCase()) ?? []).filter((t) => t > since);
    if (list.length === 0) this.failures.delete(name.toLowerCase());
    else this.failures.set(name.toLowerCase(), list);
    return list;
  }

  /** Seconds until this name may try again, or 0 when it may try now. */
  retryAfterS(name: string): number {
    const list = this.recent(name);
    if (list.length < MAX_FAILURES) return 0;
    const oldest = list[list.length - MAX_FAILURES] ?? this.now();
    return Math.max(1, Math.ceil((oldest + WINDOW_MS - this.now()) / 1000));
  }

  failed(name: string): void {
    const list = this.recent(name);
    list.push(this.now());
    this.failures.set(name.toLowerCase(), list.slice(-MAX_FAILURES));
  }

  succeeded(name: string): void {
    this.failures.delete(name.toLowerCase());
  }
}
