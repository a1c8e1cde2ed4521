// Many dashboards at once: N clients on the web server's older /api/live-data event stream (the first reactor). The
// web server's one upstream per node fans each batched sample out; this measures its CPU and memory and each event's
// delay from the moment the node took the newest reading in it.
import { MiB, measureWhile, processUsage } from './proc.js';
import type { Profile } from './profile.js';
import type { Report } from './report.js';
import { connectSse, type SseConnection } from './sse.js';
import { summarize } from './stats.js';
import type { ServiceProcess } from './system.js';

export async function benchLiveClients(report: Report, web: ServiceProcess, profile: Profile): Promise<void> {
  const section = `${profile.liveClients.toLocaleString('en')} live-data clients on the web server`;
  const delays: number[] = [];
  let snapshots = 0;
  let connectedAt = Number.POSITIVE_INFINITY;
  const connections: SseConnection[] = [];
  const rssBefore = processUsage(web.pid)?.rssBytes ?? Number.NaN;
  const onEvent = (e: { event: string; data: string; receivedMs: number }) => {
    if (e.event === 'snapshot') {
      snapshots++;
      return;
    }
    if (e.event !== 'sample') return;
    const sample = JSON.parse(e.data) as { epoch_ms?: number };
    if (sample.epoch_ms !== undefined && sample.epoch_ms >= connectedAt) delays.push(e.receivedMs - sample.epoch_ms);
  };
  try {
    const t0 = Date.now();
    const statuses = await Promise.all(
      Array.from({ length: profile.liveClients }, () => {
        const c = connectSse(`${web.url}/api/live-data`, onEvent);
        connections.push(c);
        return c.opened;
      }),
    );
    const refused = statuses.filter((s) => s !== 200).length;
    if (refused) report.note(`${refused} live-data connections were refused`);
    connectedAt = Date.now();
    report.add(section, 'time to open every connection', connectedAt - t0, 'ms');
    const usage = await measureWhile(web.pid, () => new Promise((r) => setTimeout(r, profile.liveWindowMs)));
    const s = summarize(delays);
    report.add(section, 'web server CPU while serving them', usage.cpuPercent, '% of a core');
    report.add(section, 'web server RSS with them connected', usage.peakRssBytes / MiB, 'MiB');
    report.add(section, 'web server RSS growth over idle', (usage.peakRssBytes - rssBefore) / MiB, 'MiB');
    report.add(
      section,
      `node reading taken (at_ms) → sample event at each client: p50 (${s.count} deliveries)`,
      s.p50,
      'ms',
    );
    report.add(section, 'node reading taken (at_ms) → sample event at each client: p99', s.p99, 'ms');
    report.add(section, 'clients that got the snapshot', snapshots, 'clients');
    report.note(
      `live-data: delays run from the node's at_ms of the newest reading in a sample to each client; samples are batched once per update_interval (2 s by default), so up to that much is waiting for the batch`,
    );
  } finally {
    for (const c of connections) c.close();
  }
}
