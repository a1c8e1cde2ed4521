// A fixed-size ring of one sensor's samples (24 h at 1 Hz by default): constant memory, no allocation per sample.

export class SampleHistory {
  private readonly times: Float64Array;
  private readonly values: Float32Array;
  private start = 0;
  private size = 0;

  constructor(
    readonly capacity: number,
    readonly width: number,
  ) {
    this.times = new Float64Array(capacity);
    this.values = new Float32Array(capacity * Math.max(1, width)).fill(Number.NaN);
  }

  get length(): number {
    return this.size;
  }

  push(timeMs: number, values: readonly (number | null)[]): void {
    const slot = (this.start + this.size) % this.capacity;
    if (this.size === this.capacity) this.start = (this.start + 1) % this.capacity;
    else this.size++;
    this.times[slot] = timeMs;
    for (let i = 0; i < this.width; i++) this.values[slot * this.width + i] = values[i] ?? Number.NaN;
  }

  /** Samples after `sinceMs`, the newest `limit` of them, oldest first. */
  query(sinceMs: number, limit: number): { time: number; values: (number | null)[] }[] {
    const out: { time: number; values: (number | null)[] }[] = [];
    for (let k = this.size - 1; k >= 0 && out.length < limit; k--) {
      const slot = (this.start + k) % this.capacity;
      const time = this.times[slot] ?? 0;
      if (time <= sinceMs) break;
      const values: (number | null)[] = [];
      for (let i = 0; i < this.width; i++) {
        const v = this.values[slot * this.width + i] ?? Number.NaN;
        values.push(Number.isNaN(v) ? null : v);
      }
      out.push({ time, values });
    }
    return out.reverse();
  }
}
