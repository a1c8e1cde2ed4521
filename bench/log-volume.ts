// `npx tsx bench/log-volume.ts [seconds]`: how many log lines the three services write while idle, as `npm start`
// runs them (LOG_LEVEL=INFO, simulated hardware, the default poll intervals), counted per service and level over a
// window that starts once all three answer /health. The figure is in docs/deployment.md ("Logs").
import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildServices, type ServiceName, serviceArgs } from '../scripts/services.js';
import { freePort, repoRoot, SIMULATED_HARDWARE_FILE, tempDir, waitFor } from './lib/system.js';

const seconds = Number(process.argv[2] ?? 60);
const dir = tempDir('bioreactor-logs-');
const [nodePort, hubPort, webPort] = [await freePort(), await freePort(), await freePort()];
const url = (port: number) => `http://127.0.0.1:${port}`;
const env: Record<ServiceName, Record<string, string>> = {
  node: {
    PORT: String(nodePort),
    HARDWARE_MODE: 'simulation',
    DATA_DIR: join(dir, 'node'),
    BIOREACTOR_HARDWARE_CONFIG: SIMULATED_HARDWARE_FILE,
  },
  hub: { PORT: String(hubPort), DATA_DIR: join(dir, 'hub'), BIOREACTOR_NODE_API_URL: url(nodePort) },
  web: {
    PORT: String(webPort),
    BIOREACTOR_CONFIG_DIR: join(dir, 'web'),
    BIOREACTOR_HUB_API_URL: url(hubPort),
    BIOREACTOR_NODE_API_URL: url(nodePort),
  },
};
const ports: Record<ServiceName, number> = { node: nodePort, hub: hubPort, web: webPort };

await buildServices();
let counting = false;
const counts = new Map<string, number>();
const bytes = new Map<ServiceName, number>();
const messages = new Map<string, number>();
const children: ChildProcess[] = [];
for (const name of ['node', 'hub', 'web'] as const) {
  const base = { ...process.env, LOG_LEVEL: 'INFO', HOST: '127.0.0.1' };
  const child = spawn(process.execPath, serviceArgs(name), {
    cwd: repoRoot,
    env: { ...base, ...env[name] },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let rest = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    const lines = (rest + chunk.toString()).split('\n');
    rest = lines.pop() ?? '';
    if (!counting) return;
    for (const line of lines) {
      bytes.set(name, (bytes.get(name) ?? 0) + line.length + 1);
      let level = 'other';
      let msg = line.slice(0, 60);
      try {
        const parsed = JSON.parse(line) as { level?: unknown; msg?: unknown; url?: unknown; req?: { url?: string } };
        level = String(parsed.level ?? 'other');
        msg = `${String(parsed.msg)} ${parsed.req?.url ?? ''}`.trim();
      } catch {}
      const key = `${name} ${level}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      const what = `${name} ${msg}`;
      messages.set(what, (messages.get(what) ?? 0) + 1);
    }
  });
  await waitFor(`${name} /health`, async () => (await fetch(`${url(ports[name])}/health`)).ok, 60_000, 200);
}
// The web server polls the hub and node from its first listen; let the start-up lines pass.
await new Promise((r) => setTimeout(r, 5000));
counting = true;
await new Promise((r) => setTimeout(r, seconds * 1000));
counting = false;
for (const child of children) child.kill('SIGTERM');
await Promise.all(children.map((c) => new Promise((r) => (c.exitCode === null ? c.once('exit', r) : r(null)))));
rmSync(dir, { recursive: true, force: true });

const perMinute = (n: number) => Math.round((n * 60) / seconds);
const levels: Record<string, string> = { '20': 'debug', '30': 'info', '40': 'warn', '50': 'error', '60': 'fatal' };
let info = 0;
let all = 0;
for (const [key, n] of [...counts].sort()) {
  const [svc, level = ''] = key.split(' ');
  process.stdout.write(`${svc} ${levels[level] ?? level}: ${n} lines (${perMinute(n)}/min)\n`);
  all += n;
  if (level === '30') info += n;
}
for (const [what, n] of [...messages].sort((a, b) => b[1] - a[1]).slice(0, 12))
  process.stdout.write(`  ${n}× ${what}\n`);
const totalBytes = [...bytes.values()].reduce((a, b) => a + b, 0);
process.stdout.write(
  `idle over ${seconds} s at LOG_LEVEL=INFO: ${perMinute(info)} info lines/min, ${perMinute(all)} lines/min in all, ` +
    `${Math.round((totalBytes * 60 * 24 * 60) / seconds / 1e6)} MB/day\n`,
);
