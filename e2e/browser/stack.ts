// Starts the three real services in simulation on free loopback ports, each in its own process, as `npm start` does.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildServices, serviceArgs } from '../../scripts/services.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** overflow_guard.max_excess_inflow_ml of the stack's node. */
export const OVERFLOW_LIMIT_ML = 1;

export interface Stack {
  webUrl: string;
  hubUrl: string;
  nodeUrl: string;
  /** Every node's URL, the first being nodeUrl (StackOptions.nodes). */
  nodeUrls: string[];
  /** Stops the i-th node's process (SIGTERM), as a reactor's Pi going away would; resolves once it has exited. */
  stopNode(i: number): Promise<void>;
  /** The node's DATA_DIR (experiments/{id}/output is a run's output folder). */
  nodeDataDir: string;
  adminPassword: string;
  logs(): string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/** Polls a URL until it answers 200 or the deadline passes (a service booting, not a sleep standing in for one). */
export async function waitForHealthy(url: string, timeoutMs: number, proc?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (proc && proc.exitCode !== null) throw new Error(`${url}: the process exited with ${proc.exitCode}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} did not become healthy within ${timeoutMs} ms (${last})`);
}

/** Extra environment per service, on top of the stack's own (e.g. a higher per-user limit for the hub). */
export interface StackOptions {
  env?: Partial<Record<'node' | 'hub' | 'web', Record<string, string>>>;
  /** Reactors the hub drives, each a node process of its own with its own data folder (default 1). */
  nodes?: number;
  /** Extra environment of the i-th node alone (e.g. BIOREACTOR_TIME_SCALE: a simulation twin for pre-flights). */
  nodeEnv?: Record<string, string>[];
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const dir = mkdtempSync(join(tmpdir(), 'bioreactor-e2e-'));
  const nodePorts: number[] = [];
  for (let i = 0; i < Math.max(1, opts.nodes ?? 1); i++) nodePorts.push(await freePort());
  const [hubPort, webPort] = [await freePort(), await freePort()];
  const nodeUrls = nodePorts.map((p) => `http://127.0.0.1:${p}`);
  const nodeUrl = nodeUrls[0] ?? '';
  const hubUrl = `http://127.0.0.1:${hubPort}`;
  const webUrl = `http://127.0.0.1:${webPort}`;
  const adminPassword = 'e2e-admin-password';
  const output: string[] = [];
  const children: ChildProcess[] = [];
  const common = { ...process.env, HOST: '127.0.0.1', LOG_LEVEL: 'warning' };
  // The repository's simulated hardware, with an overflow guard small enough for a test to trip it in seconds.
  const hardwareFile = join(dir, 'config_hardware.json');
  const hardware = JSON.parse(readFileSync(join(ROOT, 'bioreactor-node-v3', 'config_hardware.json'), 'utf8'));
  writeFileSync(
    hardwareFile,
    JSON.stringify({ ...hardware, overflow_guard: { max_excess_inflow_ml: OVERFLOW_LIMIT_ML } }),
  );
  const services = [
    ...nodePorts.map((port, i) => ({
      name: 'node' as const,
      health: `http://127.0.0.1:${port}/health`,
      env: {
        PORT: String(port),
        HARDWARE_MODE: 'simulation',
        BIOREACTOR_HARDWARE_CONFIG: hardwareFile,
        DATA_DIR: join(dir, i === 0 ? 'node-data' : `node-data-${i + 1}`),
        // No container engine is needed: the node runs scripts with the local Python in simulation.
        BIOREACTOR_RUNNER: process.env.BIOREACTOR_RUNNER ?? 'local',
        ...opts.nodeEnv?.[i],
      },
    })),
    {
      name: 'hub' as const,
      health: `${hubUrl}/health`,
      env: { PORT: String(hubPort), DATA_DIR: join(dir, 'hub-data'), BIOREACTOR_NODE_API_URL: nodeUrls.join(',') },
    },
    {
      name: 'web' as const,
      health: `${webUrl}/health`,
      env: {
        PORT: String(webPort),
        BIOREACTOR_CONFIG_DIR: join(dir, 'web-config'),
        BIOREACTOR_HUB_API_URL: hubUrl,
        BIOREACTOR_NODE_API_URL: nodeUrl,
        BIOREACTOR_ADMIN_PASSWORD: adminPassword,
      },
    },
  ];
  const end = (c: ChildProcess) =>
    new Promise<void>((done) => {
      if (c.exitCode !== null || c.signalCode !== null) return done();
      c.once('exit', () => done());
      c.kill('SIGTERM');
      setTimeout(() => c.kill('SIGKILL'), 10_000).unref();
    });
  const stop = async () => {
    await Promise.all(children.map(end));
    rmSync(dir, { recursive: true, force: true });
  };
  /** The node processes, in the order of nodeUrls. */
  const nodeProcs: ChildProcess[] = [];
  try {
    await buildServices();
    for (const svc of services) {
      const child = spawn(process.execPath, serviceArgs(svc.name), {
        cwd: ROOT,
        env: { ...common, ...svc.env, ...opts.env?.[svc.name] },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(child);
      if (svc.name === 'node') nodeProcs.push(child);
      for (const stream of [child.stdout, child.stderr])
        stream?.on('data', (chunk: Buffer) => output.push(`${svc.name} | ${chunk.toString()}`));
      await waitForHealthy(svc.health, 90_000, child);
    }
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n${output.join('')}`);
  }
  return {
    webUrl,
    hubUrl,
    nodeUrl,
    nodeUrls,
    stopNode: async (i) => {
      const proc = nodeProcs[i];
      if (!proc) throw new Error(`no node ${i}: the stack has ${nodeProcs.length}`);
      await end(proc);
    },
    nodeDataDir: join(dir, 'node-data'),
    adminPassword,
    logs: () => output.join(''),
    stop,
  };
}
