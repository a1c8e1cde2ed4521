// Sample on the node → Server-Sent Event at a client: the delay between a sensor reading's timestamp and its arrival.
import type { Profile } from './profile.js';
import type { Report } from './report.js';
import { connectSse } from './sse.js';
import { summarize } from './stats.js';
import type { ServiceProcess } from './system.js';

export async function benchNodeSse(
  report: Report,
  node: ServiceProcess,
  profile: Profile,
  headers: Record<string, string>,
): Promise<void> {
  const delays: number[] = [];
  const connectedAt = Date.now();
  const conn = connectSse(
    `${node.url}/api/v3/stream`,
    (e) => {
      if (e.event !== 'component.sample') return;
      const body = JSON.parse(e.data) as { state?: { timestamp?: string | null } };
      const at = body.state?.timestamp ? Date.parse(body.state.timestamp) : Number.NaN;
      // The first events replay the cached state, taken before the connection; only fresh samples measure the delay.
      if (!Number.isFinite(at) || at < connectedAt) return;
      delays.push(e.receivedMs - at);
    },
    headers,
  );
  const status = await conn.opened;
  if (status !== 200) throw new Error(`GET /api/v3/stream answered ${status}`);
  await new Promise((r) => setTimeout(r, profile.sseWindowMs));
  conn.close();
  const s = summarize(delays);
  const section = 'Node sample → SSE client';
  report.add(section, `sensor sample → event at client: p50 (${s.count} samples)`, s.p50, 'ms');
  report.add(section, 'sensor sample → event at client: p99', s.p99, 'ms');
}
