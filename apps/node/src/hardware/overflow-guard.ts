// The overflow guards' counts. The excess: liquid the inflow pumps added beyond what the outflow pumps removed,
// never below zero (an outflow at the effluent needle may pump air), and why adding liquid is refused while it is
// past the limit. The run's inflow: liquid the inflow pumps added on one experiment run's own commands, and why that
// run may add no more. Kept in DATA_DIR/hardware/overflow-guard.json, so a node that restarts (or is killed)
// mid-run keeps counting from where it was instead of allowing a full limit again.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

interface Saved {
  excess_ml: number;
  tripped: string | null;
  run?: { id: string; inflow_ml: number; tripped: string | null; active: boolean } | null;
}

export class OverflowGuard {
  excessMl = 0;
  tripped: string | null = null;
  /** The experiment run whose inflow is counted (the last one that commanded a pump), or null. */
  runId: string | null = null;
  runInflowMl = 0;
  runTripped: string | null = null;
  /** False once the run has ended: its cap no longer refuses anything. */
  runActive = false;
  private saved = '';

  constructor(
    /** overflow_guard.max_excess_inflow_ml; null: no excess guard. */
    readonly limitMl: number | null,
    private readonly path: string | null,
    /** overflow_guard.max_run_inflow_ml; null: no cap per run. With both null nothing is kept. */
    readonly runLimitMl: number | null = null,
  ) {
    if (!this.enabled || !path) return;
    try {
      const saved = JSON.parse(readFileSync(path, 'utf8')) as Partial<Saved>;
      if (typeof saved.excess_ml === 'number' && saved.excess_ml >= 0) this.excessMl = saved.excess_ml;
      if (typeof saved.tripped === 'string') this.tripped = saved.tripped;
      const run = saved.run;
      if (run && typeof run.id === 'string' && typeof run.inflow_ml === 'number' && run.inflow_ml >= 0) {
        this.runId = run.id;
        this.runInflowMl = run.inflow_ml;
        this.runTripped = typeof run.tripped === 'string' ? run.tripped : null;
        this.runActive = run.active === true;
      }
    } catch {
      // No file yet (or one torn by a crash mid-write, which the rename below prevents): start from zero.
    }
  }

  get enabled(): boolean {
    return this.limitMl !== null || this.runLimitMl !== null;
  }

  /** Adds the net liquid (inflow minus outflow) moved since the last call. */
  add(netMl: number): void {
    this.excessMl = Math.max(0, this.excessMl + netMl);
  }

  /** Adds liquid the current run's commands made the inflow pumps add (negative: takes it back). */
  addRunInflow(ml: number): void {
    this.runInflowMl = Math.max(0, this.runInflowMl + ml);
  }

  /** A command of run `id`: a run not seen before starts its count from zero. */
  startRun(id: string): void {
    if (id === this.runId) {
      this.runActive = true;
      return;
    }
    this.runId = id;
    this.runInflowMl = 0;
    this.runTripped = null;
    this.runActive = true;
  }

  /** Run `id` has ended: its count is kept (for the record), its cap no longer refuses anything. */
  endRun(id: string): void {
    if (id === this.runId) this.runActive = false;
  }

  /** Writes the counts when they changed (a temporary file renamed over the old one, so it is never half written). */
  save(): void {
    if (!this.enabled || !this.path) return;
    const run =
      this.runId === null
        ? null
        : {
            id: this.runId,
            inflow_ml: this.runInflowMl,
            tripped: this.runTripped,
            active: this.runActive,
          };
    const text = JSON.stringify({ excess_ml: this.excessMl, tripped: this.tripped, run } satisfies Saved);
    if (text === this.saved) return;
    mkdirSync(dirname(this.path), { recursive: true });
    writeFileSync(`${this.path}.tmp`, text);
    renameSync(`${this.path}.tmp`, this.path);
    this.saved = text;
  }
}
