// Benchmark figures: one row per measurement, printed as a table and written as JSON and Markdown.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { round } from './stats.js';

export interface Figure {
  section: string;
  metric: string;
  value: number;
  unit: string;
  /** What to read it against: the baseline of the same run, or the target. */
  compare?: string;
}

export class Report {
  readonly figures: Figure[] = [];
  readonly notes: string[] = [];
  readonly startedAt = new Date();
  /** Taken when the run starts: what else loads the machine then, not after the run's own load. */
  private readonly loadAtStart = loadavg().map((l) => round(l, 2));

  add(section: string, metric: string, value: number, unit: string, compare?: string): void {
    const f: Figure = { section, metric, value: round(value, value < 10 ? 3 : 1), unit };
    if (compare) f.compare = compare;
    this.figures.push(f);
    process.stdout.write(
      `  ${metric.padEnd(58)} ${String(f.value).padStart(10)} ${unit}${compare ? `   (${compare})` : ''}\n`,
    );
  }

  note(text: string): void {
    this.notes.push(text);
    process.stdout.write(`  note: ${text}\n`);
  }

  environment(mode: string): Record<string, unknown> {
    return {
      mode,
      started_at: this.startedAt.toISOString(),
      node: process.version,
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: cpus().length,
      load_average_at_start: this.loadAtStart,
    };
  }

  markdown(mode: string): string {
    const env = this.environment(mode);
    const lines = [
      `# Benchmark results (${mode})`,
      '',
      `Run ${env.started_at} · Node.js ${env.node} · ${env.cores} × ${env.cpu} · load average at start ${(env.load_average_at_start as number[]).join(' ')}`,
      '',
    ];
    let section = '';
    for (const f of this.figures) {
      if (f.section !== section) {
        section = f.section;
        lines.push('', `## ${section}`, '', '| metric | value | unit | compare with |', '|---|---:|---|---|');
      }
      lines.push(`| ${f.metric} | ${f.value} | ${f.unit} | ${f.compare ?? ''} |`);
    }
    if (this.notes.length) lines.push('', '## Notes', '', ...this.notes.map((n) => `- ${n}`));
    return `${lines.join('\n')}\n`;
  }

  write(dir: string, mode: string): void {
    mkdirSync(dir, { recursive: true });
    const json = { environment: this.environment(mode), figures: this.figures, notes: this.notes };
    writeFileSync(join(dir, 'latest.json'), `${JSON.stringify(json, null, 2)}\n`);
    writeFileSync(join(dir, 'latest.md'), this.markdown(mode));
  }
}
