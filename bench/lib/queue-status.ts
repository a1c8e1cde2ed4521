// GET /api/queue/status with 1,000 experiments waiting: what every queue page and dashboard polls. An in-process hub
// with dispatch off, so the line stays full; loopback HTTP, a bounded number of requests.
import { startInProcessHub } from './hub-in-process.js';
import type { Profile } from './profile.js';
import type { Report } from './report.js';
import { summarize } from './stats.js';

const QUEUED = 1000;
const CONCURRENCY = 8;

export async function benchQueueStatus(report: Report, profile: Profile): Promise<void> {
  const h = await startInProcessHub('http://127.0.0.1:9', { noDispatch: true });
  try {
    const url = `${h.url}/api/queue/status`;
    for (let i = 0; i < QUEUED; i++) {
      h.hub.queue.submit({ userId: `user-${i}`, script: 'print(1)\n', maxDurationS: 600 + (i % 7) * 60 });
    }
    await (await fetch(url)).text();
    const latencies: number[] = [];
    let sent = 0;
    let bytes = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (sent < profile.statusRequests) {
          sent++;
          const t = performance.now();
          bytes = (await (await fetch(url)).arrayBuffer()).byteLength;
          latencies.push(performance.now() - t);
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    const l = summarize(latencies);
    const section = `Queue status with ${QUEUED} queued (${CONCURRENCY} concurrent clients)`;
    report.add(section, 'reply size', bytes / 1024, 'KiB');
    report.add(section, `throughput (${l.count} requests)`, l.count / seconds, 'req/s');
    report.add(section, 'latency: p50', l.p50, 'ms');
    report.add(section, 'latency: p99', l.p99, 'ms');
  } finally {
    await h.close();
  }
}
