// Benchmark of the node's hardware API on loopback: requests/s and p50/p99 of GET /api/v3/state and
// POST /api/v3/stirrer/control against a bare Fastify route in the same run; the node's RSS and CPU while idle,
// sampling every sensor at 1 Hz in simulation; and how long an injected thermometer failure takes to switch a
// heating peltier off (also the `node-safety` section of `npm run bench`). Prints figures; it is not a test.
//   npx tsx bench/node-hardware.ts [requests-per-target]
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { measureThermometerFailSafe } from './lib/node-safety.js';
import { summarize } from './lib/stats.js';

const SERVE = process.argv[2] === '--serve';

async function serve(): Promise<void> {
  const Fastify = (await import('fastify')).default;
  const { buildApp } = await import('../apps/node/src/app.js');
  const { loadConfig } = await import('../apps/node/src/config.js');
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-node-'));
  const config = loadConfig({
    DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
    HARDWARE_MODE: 'simulation',
    BIOREACTOR_HARDWARE_CONFIG: fileURLToPath(new URL('../bioreactor-node-v3/config_hardware.json', import.meta.url)),
    BIOREACTOR_RUNNER: 'local',
  });
  const app = await buildApp(config, { logger: false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const bare = Fastify({ logger: false });
  bare.get('/bare', async () => ({ status: 'success', duty_cycle: 30, active: true }));
  await bare.listen({ host: '127.0.0.1', port: 0 });
  const port = (s: { server: { address(): unknown } }) => (s.server.address() as { port: number }).port;
  process.stdout.write(`${JSON.stringify({ node: port(app), bare: port(bare) })}\n`);
  process.on('SIGTERM', () => {
    void Promise.all([app.close(), bare.close()]).then(() => process.exit(0));
  });
}

interface Result {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

async function load(port: number, method: string, path: string, body: string | null, total: number): Promise<Result> {
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  const concurrency = 8;
  const latencies: number[] = [];
  let errors = 0;
  let issued = 0;
  const one = () =>
    new Promise<void>((resolve) => {
      const started = performance.now();
      const req = request(
        { host: '127.0.0.1', port, method, path, agent, headers: body ? { 'content-type': 'application/json' } : {} },
        (res) => {
          res.resume();
          res.on('end', () => {
            latencies.push(performance.now() - started);
            if (res.statusCode !== 200) errors++;
            resolve();
          });
        },
      );
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end(body ?? undefined);
    });
  const worker = async () => {
    while (issued < total) {
      issued++;
      await one();
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
  return { rps: total / seconds, p50: at(0.5), p99: at(0.99), errors };
}

function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return Number(fields[11]) + Number(fields[12]);
}

function rssMb(pid: number): number {
  const line =
    readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('VmRSS:')) ?? '';
  return Number(line.replace(/\D+/g, '')) / 1024;
}

async function measureIdle(pid: number, seconds: number): Promise<{ cpuPercent: number; rss: number }> {
  const before = cpuTicks(pid);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const after = cpuTicks(pid);
  const elapsed = (performance.now() - t0) / 1000;
  // /proc counts in clock ticks of 1/100 s on Linux.
  return { cpuPercent: ((after - before) / 100 / elapsed) * 100, rss: rssMb(pid) };
}

async function main(): Promise<void> {
  const total = Number(process.argv[2] ?? 20000);
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--serve'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ports = await new Promise<{ node: number; bare: number }>((resolve, reject) => {
    let text = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const line = text.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve(JSON.parse(line));
    });
    child.on('exit', (code) => reject(new Error(`server exited (${code})`)));
  });
  const pid = child.pid as number;
  try {
    // Let every sampler take a few samples (the CO2 read alone takes 1.5 s) before measuring.
    await new Promise((r) => setTimeout(r, 5000));
    const idle = await measureIdle(pid, 20);
    const warm = Math.min(2000, total / 5);
    await load(ports.bare, 'GET', '/bare', null, warm);
    await load(ports.node, 'GET', '/api/v3/state', null, warm);
    const bare = await load(ports.bare, 'GET', '/bare', null, total);
    const state = await load(ports.node, 'GET', '/api/v3/state', null, total);
    const control = await load(
      ports.node,
      'POST',
      '/api/v3/stirrer/control',
      JSON.stringify({ duty_cycle: 42 }),
      total,
    );
    const busyRss = rssMb(pid);
    const failSafe = summarize((await measureThermometerFailSafe(`http://127.0.0.1:${ports.node}`, 5)).offMs);
    const line = (name: string, r: Result) =>
      `${name.padEnd(34)} ${r.rps.toFixed(0).padStart(7)} req/s   p50 ${r.p50.toFixed(3)} ms   p99 ${r.p99.toFixed(3)} ms   errors ${r.errors}`;
    console.log(`node hardware benchmark (simulation, loopback, 8 connections, ${total} requests per target)`);
    console.log(line('GET /bare (bare Fastify)', bare));
    console.log(line('GET /api/v3/state', state));
    console.log(line('POST /api/v3/stirrer/control', control));
    console.log(
      `state throughput vs bare Fastify: ${((state.rps / bare.rps) * 100).toFixed(1)} %   (target ≥ 80 %, p99 < 2 ms)`,
    );
    console.log(
      `idle, sampling every sensor at 1 Hz: CPU ${idle.cpuPercent.toFixed(2)} % of a core (target < 2 %), RSS ${idle.rss.toFixed(1)} MB; after load RSS ${busyRss.toFixed(1)} MB (target < 100 MB)`,
    );
    console.log(
      `injected thermometer failure → peltier duty 0: p50 ${failSafe.p50.toFixed(0)} ms, max ${failSafe.max.toFixed(0)} ms over ${failSafe.count} rounds (bound 1,500 ms: one thermometer period)`,
    );
  } finally {
    child.kill('SIGTERM');
  }
}

if (SERVE) await serve();
else await main();
