// CPU time and resident memory of a process, read from /proc (Linux), to measure a service from outside.
import { readFileSync } from 'node:fs';

const CLOCK_TICKS_PER_S = 100;

export interface ProcessUsage {
  /** User + system CPU seconds since the process started. */
  cpuSeconds: number;
  rssBytes: number;
}

export function processUsage(pid: number): ProcessUsage | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
    return { cpuSeconds: (utime + stime) / CLOCK_TICKS_PER_S, rssBytes: rssKb * 1024 };
  } catch {
    return undefined;
  }
}

export interface UsageWindow {
  /** CPU used over the window as a percentage of one core. */
  cpuPercent: number;
  /** Largest RSS seen during the window (sampled). */
  peakRssBytes: number;
  /** RSS at the end of the window. */
  rssBytes: number;
}

/** Samples a process's usage while `work` runs (or for its duration); CPU over the whole window, peak RSS sampled. */
export async function measureWhile(pid: number, work: () => Promise<void>, sampleEveryMs = 100): Promise<UsageWindow> {
  const before = processUsage(pid);
  const started = process.hrtime.bigint();
  let peak = before?.rssBytes ?? 0;
  const timer = setInterval(() => {
    const u = processUsage(pid);
    if (u && u.rssBytes > peak) peak = u.rssBytes;
  }, sampleEveryMs);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  const after = processUsage(pid);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (!before || !after) throw new Error(`process ${pid} ended while it was being measured`);
  peak = Math.max(peak, after.rssBytes);
  return {
    cpuPercent: ((after.cpuSeconds - before.cpuSeconds) / seconds) * 100,
    peakRssBytes: peak,
    rssBytes: after.rssBytes,
  };
}

export const MiB = 1024 * 1024;
