// Serialises access to one bus: a chip transaction never interleaves with another's.

export class Mutex {
  private tail: Promise<void> = Promise.resolve();
  private waiting = 0;

  /** Transactions queued behind the one running now. */
  get queued(): number {
    return this.waiting;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    this.waiting++;
    const previous = this.tail;
    let release = () => {};
    this.tail = new Promise<void>((resolve) => {
      release = resolve;
    });
    try {
      await previous;
      this.waiting--;
      return await fn();
    } finally {
      release();
    }
  }
}
