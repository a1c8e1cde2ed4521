// The overflow guard's count: liquid the inflow pumps added beyond what the outflow pumps removed, never below zero
// (an outflow at the effluent needle may pump air), and why adding liquid is refused while it is past the limit.
// Kept in DATA_DIR/hardware/overflow-guard.json, so a node that restarts (or is killed) mid-run keeps counting from
// where it was instead of allowing a full limit again.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

interface Saved {
  excess_ml: number;
  tripped: string | null;
}

export class OverflowGuard {
  excessMl = 0;
  tripped: string | null = null;
  private saved = '';

  constructor(
    /** overflow_guard.max_excess_inflow_ml; null: no guard, nothing counted or kept. */
    readonly limitMl: number | null,
    private readonly path: string | null,
  ) {
    if (limitMl === null || !path) return;
    try {
      const saved = JSON.parse(readFileSync(path, 'utf8')) as Partial<Saved>;
      if (typeof saved.excess_ml === 'number' && saved.excess_ml >= 0) this.excessMl = saved.excess_ml;
      if (typeof saved.tripped === 'string') this.tripped = saved.tripped;
    } catch {
      // No file yet (or one torn by a crash mid-write, which the rename below prevents): start from zero.
    }
  }

  get enabled(): boolean {
    return this.limitMl !== null;
  }

  /** Adds the net liquid (inflow minus outflow) moved since the last call. */
  add(netMl: number): void {
    this.excessMl = Math.max(0, this.excessMl + netMl);
  }

  /** Writes the count when it changed (a temporary file renamed over the old one, so it is never half written). */
  save(): void {
    if (!this.enabled || !this.path) return;
    const text = JSON.stringify({ excess_ml: this.excessMl, tripped: this.tripped } satisfies Saved);
    if (text === this.saved) return;
    mkdirSync(dirname(this.path), { recursive: true });
    writeFileSync(`${this.path}.tmp`, text);
    renameSync(`${this.path}.tmp`, this.path);
    this.saved = text;
  }
}
