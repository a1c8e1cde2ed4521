// The node's hardware API under load next to a bare Fastify route in the same run: state read and control.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { type LoadResult, runLoad } from './load.js';
import type { Profile } from './profile.js';
import type { Report } from './report.js';
import { repoRoot, type ServiceProcess } from './system.js';

async function startBare(): Promise<{ url: string; stop: () => void }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'bench', 'bare-fastify.ts')], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolveUrl, reject) => {
    let out = '';
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) resolveUrl(line.trim());
    });
    child.once('exit', (code) => reject(new Error(`bare Fastify exited (${code})`)));
  });
  return { url, stop: () => child.kill('SIGTERM') };
}

function add(report: Report, label: string, r: LoadResult, compare?: string): void {
  const section = 'Node hardware API (loopback, closed loop)';
  report.add(section, `${label}: p50`, r.p50, 'ms', compare);
  report.add(section, `${label}: p99`, r.p99, 'ms');
  report.add(section, `${label}: throughput`, r.requestsPerSecond, 'req/s');
  if (r.errors) report.note(`${label}: ${r.errors} failed requests (${JSON.stringify(r.statuses)})`);
}

export async function benchNodeHttp(
  report: Report,
  node: ServiceProcess,
  profile: Profile,
  headers: Record<string, string>,
): Promise<void> {
  const bare = await startBare();
  try {
    const base = { concurrency: profile.httpConcurrency, durationMs: profile.httpDurationMs };
    report.note(`node HTTP: ${profile.httpConcurrency} keep-alive connections, ${profile.httpDurationMs} ms per route`);
    const bareGet = await runLoad({ ...base, url: `${bare.url}/bare` });
    add(report, 'bare Fastify GET', bareGet, 'the floor');
    const state = await runLoad({ ...base, url: `${node.url}/api/v3/state`, headers });
    add(report, 'node GET /api/v3/state (all components)', state, 'target: p99 < 2 ms');
    report.add(
      'Node hardware API (loopback, closed loop)',
      'node GET /api/v3/state throughput / bare GET',
      (state.requestsPerSecond / bareGet.requestsPerSecond) * 100,
      '%',
      'target: ≥ 80 %',
    );
    add(
      report,
      'node GET /api/v3/temp_sensor/state',
      await runLoad({ ...base, url: `${node.url}/api/v3/temp_sensor/state`, headers }),
    );
    const barePost = await runLoad({ ...base, url: `${bare.url}/bare`, method: 'POST', body: { duty_cycle: 40 } });
    add(report, 'bare Fastify POST (validated body)', barePost, 'the floor');
    const control = await runLoad({
      ...base,
      url: `${node.url}/api/v3/stirrer/control`,
      method: 'POST',
      body: { duty_cycle: 40 },
      headers,
    });
    add(report, 'node POST /api/v3/stirrer/control', control);
    report.add(
      'Node hardware API (loopback, closed loop)',
      'node POST stirrer/control throughput / bare POST',
      (control.requestsPerSecond / barePost.requestsPerSecond) * 100,
      '%',
    );
  } finally {
    bare.stop();
  }
}
