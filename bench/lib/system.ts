// Starts the services as real processes on loopback (simulated hardware, a fresh data folder each), waits until
// each answers /health, and stops or kills them. Shared by the benchmarks and the reliability suite.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildServices, repoRoot, type ServiceName, serviceArgs } from '../../scripts/services.js';

export { repoRoot, type ServiceName };
export const SIMULATED_HARDWARE_FILE = join(repoRoot, 'bioreactor-node-v3', 'config_hardware.json');

/** The services run as deployed (scripts/services.ts): built once per test or benchmark process. */
let built: Promise<void> | undefined;

/** A TCP port nothing listens on right now (the kernel picks it). */
export function freePort(): Promise<number> {
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

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Resolves when `check` returns true; rejects with `what` and the last failure after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 60_000,
  everyMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export class ServiceProcess {
  child: ChildProcess | undefined;
  private output: string[] = [];

  constructor(
    readonly name: ServiceName,
    readonly port: number,
    readonly env: Record<string, string>,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number {
    const pid = this.child?.pid;
    if (pid === undefined) throw new Error(`${this.name} is not running`);
    return pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The last lines the service printed, for failure messages. */
  tail(lines = 30): string {
    return this.output.slice(-lines).join('');
  }

  async start(timeoutMs = 60_000): Promise<void> {
    if (this.running) throw new Error(`${this.name} already runs`);
    built ??= buildServices();
    await built;
    const child = spawn(process.execPath, serviceArgs(this.name), {
      cwd: repoRoot,
      env: { ...process.env, ...this.env, PORT: String(this.port), HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    const keep = (chunk: Buffer) => {
      this.output.push(chunk.toString());
      if (this.output.length > 200) this.output.splice(0, this.output.length - 200);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    await waitFor(
      `${this.name} to answer /health`,
      async () => {
        if (child.exitCode !== null) throw new Error(`${this.name} exited (${child.exitCode}):\n${this.tail()}`);
        const res = await fetch(`${this.url}/health`);
        return res.ok;
      },
      timeoutMs,
    );
  }

  /** SIGKILL: no shutdown code runs, as in a power cut or an OOM kill. */
  async kill(): Promise<void> {
    await this.signal('SIGKILL');
  }

  /** SIGTERM and wait for the exit (graceful shutdown). */
  async stop(): Promise<void> {
    await this.signal('SIGTERM');
  }

  private async signal(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill(signal);
    await exited;
  }
}

export interface SystemOptions {
  /** Shared service token; unset leaves the services open (the development default). */
  token?: string;
  adminPassword?: string;
  nodeEnv?: Record<string, string>;
  hubEnv?: Record<string, string>;
  webEnv?: Record<string, string>;
  /** Which services to start (default all three). */
  services?: ServiceName[];
}

/** Node, hub and web on free loopback ports in simulation, each with its own data folder under one temp folder. */
export class BioreactorSystem {
  readonly dir = tempDir('bioreactor-system-');
  node!: ServiceProcess;
  hub!: ServiceProcess;
  web!: ServiceProcess;

  constructor(private readonly opts: SystemOptions = {}) {}

  get all(): ServiceProcess[] {
    return [this.node, this.hub, this.web].filter((s) => s !== undefined);
  }

  async start(): Promise<this> {
    const [nodePort, hubPort, webPort] = [await freePort(), await freePort(), await freePort()];
    const common: Record<string, string> = { LOG_LEVEL: 'WARNING' };
    if (this.opts.token) common.BIOREACTOR_API_TOKEN = this.opts.token;
    this.node = new ServiceProcess('node', nodePort, {
      ...common,
      HARDWARE_MODE: 'simulation',
      DATA_DIR: join(this.dir, 'node'),
      BIOREACTOR_HARDWARE_CONFIG: SIMULATED_HARDWARE_FILE,
      BIOREACTOR_RUNNER: 'local',
      BIOREACTOR_EXPERIMENT_STOP_GRACE_S: '2',
      ...this.opts.nodeEnv,
    });
    this.hub = new ServiceProcess('hub', hubPort, {
      ...common,
      DATA_DIR: join(this.dir, 'hub'),
      BIOREACTOR_NODE_API_URL: this.node.url,
      BIOREACTOR_NODE_HEALTH_INTERVAL_MS: '500',
      BIOREACTOR_NODE_TIMEOUT_MS: '3000',
      ...this.opts.hubEnv,
    });
    const webEnv: Record<string, string> = {
      ...common,
      BIOREACTOR_CONFIG_DIR: join(this.dir, 'web'),
      BIOREACTOR_HUB_API_URL: this.hub.url,
      BIOREACTOR_NODE_API_URL: this.node.url,
      ...this.opts.webEnv,
    };
    if (this.opts.adminPassword) webEnv.BIOREACTOR_ADMIN_PASSWORD = this.opts.adminPassword;
    this.web = new ServiceProcess('web', webPort, webEnv);
    const wanted = this.opts.services ?? ['node', 'hub', 'web'];
    // The node first, so the hub finds it online; the services start in parallel otherwise.
    if (wanted.includes('node')) await this.node.start();
    await Promise.all([this.hub, this.web].filter((s) => wanted.includes(s.name)).map((s) => s.start()));
    return this;
  }

  async stop(): Promise<void> {
    await Promise.all(this.all.map((s) => s.stop()));
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
