// `npm run bench [-- --quick] [-- --only=<section,…>]`: starts node, hub and web in simulation on loopback, measures
// each figure of docs/performance.md, prints a table and writes bench/results/latest.json and latest.md.
import { join } from 'node:path';
import { bearer } from '@bioreactor/api';
import { benchDashboardCsv } from './lib/dashboard-csv.js';
import { benchExperimentStart } from './lib/docker-experiments.js';
import { benchIdle } from './lib/idle.js';
import { benchLiveClients } from './lib/live-clients.js';
import { benchLiveStream } from './lib/live-stream.js';
import { benchNodeDies } from './lib/node-dies.js';
import { benchNodeHttp } from './lib/node-http.js';
import { benchNodeSafety } from './lib/node-safety.js';
import { benchNodeSse } from './lib/node-sse.js';
import { PROFILES } from './lib/profile.js';
import { benchPythonClient } from './lib/python-client.js';
import { benchQueueLatency } from './lib/queue-latency.js';
import { benchQueueStatus } from './lib/queue-status.js';
import { Report } from './lib/report.js';
import { benchSeries } from './lib/series.js';
import { BioreactorSystem, repoRoot } from './lib/system.js';

const SECTIONS = [
  'idle',
  'node-http',
  'python',
  'node-sse',
  'node-dies',
  'node-safety',
  'queue',
  'queue-status',
  'experiments',
  'dashboard',
  'live-clients',
  'live-stream',
  'series',
] as const;
type Section = (typeof SECTIONS)[number];

const args = process.argv.slice(2);
const profile = args.includes('--quick') ? PROFILES.quick : PROFILES.full;
const onlyArg = args.find((a) => a.startsWith('--only='));
const only = onlyArg ? onlyArg.slice('--only='.length).split(',') : [...SECTIONS];
for (const name of only) {
  if (!(SECTIONS as readonly string[]).includes(name)) {
    process.stderr.write(`Unknown section '${name}': use ${SECTIONS.join(', ')}\n`);
    process.exit(2);
  }
}
const wanted = (s: Section) => only.includes(s);

// The services run as in production: with a service token, so its check is part of every figure.
const token = 'bench-token-0123456789abcdef';
/** The web server's admin: the browser streams of the live-stream section see every run's rows. */
const adminPassword = 'bench-admin-password';
const headers = { authorization: bearer(token) };

const report = new Report();
const started = Date.now();
process.stdout.write(`Bioreactor benchmarks (${profile.name}); sections: ${only.join(', ')}\n`);
const system = new BioreactorSystem({ token, adminPassword });
let failed = false;
try {
  await system.start();
  process.stdout.write(`services up in ${Date.now() - started} ms\n`);
  const steps: [Section, string, () => Promise<void>][] = [
    ['idle', 'Idle services', () => benchIdle(report, system, profile)],
    ['node-http', 'Node hardware API', () => benchNodeHttp(report, system.node, profile, headers)],
    ['python', 'Python client', () => benchPythonClient(report, system.node, profile, token)],
    ['node-sse', 'Node sample → SSE', () => benchNodeSse(report, system.node, profile, headers)],
    ['node-dies', 'When the node dies', () => benchNodeDies(report, profile)],
    ['node-safety', 'Node fail-safe', () => benchNodeSafety(report, system.node, profile, headers)],
    ['queue', 'Queue latency', () => benchQueueLatency(report, system, profile, headers)],
    ['queue-status', 'Queue status with 1,000 queued', () => benchQueueStatus(report, profile)],
    ['experiments', 'Experiment start and end (Docker)', () => benchExperimentStart(report, profile.dockerRuns)],
    ['live-clients', 'Live-data clients', () => benchLiveClients(report, system.web, profile)],
    [
      'live-stream',
      'Live data pushed: node → hub → web → browsers',
      () => benchLiveStream(report, system, profile, headers, adminPassword, token),
    ],
    ['dashboard', 'Dashboard over a large CSV', () => benchDashboardCsv(report, profile)],
    ['series', 'Whole-run chart of a long run', () => benchSeries(report, profile)],
  ];
  for (const [section, title, step] of steps) {
    if (!wanted(section)) continue;
    process.stdout.write(`\n${title}\n`);
    try {
      await step();
    } catch (err) {
      failed = true;
      report.note(`${title} failed: ${(err as Error).message}`);
    }
  }
} finally {
  await system.dispose();
}
const out = join(repoRoot, 'bench', 'results');
report.write(out, profile.name);
process.stdout.write(
  `\nwrote ${join(out, 'latest.json')} and latest.md in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
);
process.exit(failed ? 1 : 0);
