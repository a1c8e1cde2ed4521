// Runs the hub as its own process (node --import tsx apps/hub/src/server.ts), as it runs in production.
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { readEventStream } from '@bioreactor/service-kit';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });
}

export interface HubProcess {
  proc: ChildProcess;
  url: string;
  /** Resolves when the process has exited. */
  exited: Promise<number | null>;
}

/** Starts the hub and resolves once it logs that it listens; rejects if it exits first. */
export function startHubProcess(env: Record<string, string>, port: number): Promise<HubProcess> {
  return startServiceProcess('apps/hub/src/server.ts', env, port);
}

/** Starts a real node (simulated hardware, scripts run by the local runner with python3). */
export function startNodeProcess(dataDir: string, port: number): Promise<HubProcess> {
  return startServiceProcess(
    'apps/node/src/server.ts',
    {
      HARDWARE_MODE: 'simulation',
      DATA_DIR: dataDir,
      BIOREACTOR_RUNNER: 'local',
      BIOREACTOR_HARDWARE_CONFIG: join(dataDir, 'config_hardware.json'),
    },
    port,
  );
}

async function startServiceProcess(entry: string, env: Record<string, string>, port: number): Promise<HubProcess> {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(ROOT, entry)], {
    cwd: ROOT,
    env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'INFO', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((res) => proc.once('exit', (code) => res(code)));
  const output: string[] = [];
  proc.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
  await new Promise<void>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`${entry} did not start in time:\n${output.join('')}`)), 60_000);
    const lines = createInterface({ input: proc.stdout as NodeJS.ReadableStream });
    lines.on('line', (line) => {
      if (process.env.HUB_TEST_LOG) appendFileSync(process.env.HUB_TEST_LOG, `${entry} ${line}\n`);
      output.push(line);
      if (line.includes('Server listening at')) {
        clearTimeout(timer);
        res();
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      rej(new Error(`${entry} exited (${code}) before listening:\n${output.join('\n')}`));
    });
  });
  return { proc, url: `http://127.0.0.1:${port}`, exited };
}

/** Waits for an experiment to reach a status, following the hub's own event stream (no polling loop). */
export async function waitForHubStatus(url: string, id: string, status: string, timeoutMs = 30_000): Promise<void> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  try {
    const res = await fetch(`${url}/api/events`, { signal: abort.signal });
    // Subscribed first, then checked, so a change between the two is not missed.
    const now = (await (await fetch(`${url}/api/experiments/${id}/status`)).json()) as {
      experiment?: { status: string };
    };
    if (now.experiment?.status === status) return;
    for await (const ev of readEventStream(res.body as ReadableStream<Uint8Array>)) {
      if (ev.event !== 'experiment.updated') continue;
      const e = JSON.parse(ev.data).experiment;
      if (e.experiment_id === id && e.status === status) return;
    }
  } catch (err) {
    if (abort.signal.aborted) throw new Error(`timed out waiting for ${id} to be ${status}`);
    throw err;
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
  throw new Error(`event stream ended before ${id} was ${status}`);
}

/**
 * Resolves once `check` holds for an event of the hub's stream; `initial` is asked after subscribing, so a change
 * between subscribing and looking is not missed.
 */
export async function waitForHubEvent(
  url: string,
  check: (event: string, data: unknown) => boolean,
  initial: () => Promise<boolean>,
  what: string,
  timeoutMs = 60_000,
): Promise<void> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  try {
    const res = await fetch(`${url}/api/events`, { signal: abort.signal });
    if (await initial()) return;
    for await (const ev of readEventStream(res.body as ReadableStream<Uint8Array>)) {
      if (check(ev.event, JSON.parse(ev.data))) return;
    }
  } catch (err) {
    if (abort.signal.aborted) throw new Error(`timed out waiting for ${what}`);
    throw err;
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
  throw new Error(`event stream ended before ${what}`);
}

/** Runs the hub until it exits by itself (a refused start), with what it wrote and its exit code. */
export async function runHubToExit(
  env: Record<string, string>,
  port: number,
  timeoutMs = 60_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'apps/hub/src/server.ts')], {
    cwd: ROOT,
    env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'INFO', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  proc.stdout?.on('data', (d: Buffer) => stdout.push(d));
  proc.stderr?.on('data', (d: Buffer) => stderr.push(d));
  const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((res) => proc.once('close', (c) => res(c)));
  clearTimeout(timer);
  return { code, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') };
}
