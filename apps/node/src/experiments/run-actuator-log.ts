// A run's own actuator log: every command the node carried out while the run was live, whoever asked (the script,
// an operator, a safety cut-off, the safe state at the end, the reset and restore of a node restart), one JSON line
// each, appended to $DATA_DIR/experiments/{id}/actuator_log.jsonl (the node's part of the folder, outside the
// script's reach). It is complete for runs of any length, survives a kill -9, and goes into the download.
import { closeSync, constants as fs, openSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { ActuatorCommand } from './hardware-gateway.js';

export const ACTUATOR_LOG_FILE = 'actuator_log.jsonl';

/** Appends entries, one write(2) each with O_APPEND: a crash leaves at most one torn last line. */
export class RunActuatorLog {
  private fd: number | null;

  constructor(path: string) {
    this.fd = openSync(path, fs.O_WRONLY | fs.O_CREAT | fs.O_APPEND | fs.O_NOFOLLOW, 0o644);
  }

  append(entry: ActuatorCommand): void {
    if (this.fd === null) return;
    writeSync(this.fd, `${JSON.stringify(entry)}\n`);
  }

  close(): void {
    if (this.fd === null) return;
    closeSync(this.fd);
    this.fd = null;
  }
}

/** Every entry of a run's actuator log, oldest first ([] when there is none); a torn line is skipped. */
export async function readRunActuatorLog(path: string): Promise<ActuatorCommand[]> {
  let text: string;
  try {
    const handle = await open(path, fs.O_RDONLY | fs.O_NOFOLLOW);
    try {
      text = await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  } catch {
    return [];
  }
  const entries: ActuatorCommand[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      entries.push(JSON.parse(line) as ActuatorCommand);
    } catch {
      // A line torn by a crash mid-write.
    }
  }
  return entries;
}

/** One control request that brings an actuator back to where a run left it. */
export interface Setpoint {
  component: string;
  body: Record<string, unknown>;
}

/**
 * The actuator settings in force at the end of a log: the last command per actuator (per pump for pumps, and for
 * the ring light the last whole-ring colour followed by the single pixels set after it), as control requests.
 */
export function lastSetpoints(entries: readonly ActuatorCommand[]): Setpoint[] {
  const last = new Map<string, Setpoint>();
  let ringPixels: Setpoint[] = [];
  for (const entry of entries) {
    const values = { ...entry.values };
    // What a command carried about why it was made is not part of the request that would repeat it.
    delete values.reason;
    delete values.steps_per_10000s;
    switch (entry.component) {
      // A program the run started is a fact of the run, not a setting to restore: the node resumes the program.
      case 'program':
        break;
      case 'pumps':
        last.set(`pumps:${String(values.pump_name)}`, { component: 'pumps', body: values });
        break;
      case 'ring_light':
        if (values.pixel_index === null || values.pixel_index === undefined) {
          delete values.pixel_index;
          last.set('ring_light', { component: 'ring_light', body: values });
          ringPixels = [];
        } else ringPixels.push({ component: 'ring_light', body: values });
        break;
      default:
        last.set(entry.component, { component: entry.component, body: values });
    }
  }
  return [...last.values(), ...ringPixels];
}
