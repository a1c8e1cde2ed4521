// Injected thermometer failure → peltier duty 0: with the peltier heating at 100 %, a CRC failure is injected on every
// thermometer through the node's fault API (simulation), and the time until the node's stream reports the peltier
// switched off by its safety (`component.changed`, source `safety:no-temperature`, duty 0) is measured from the
// fault request. Each round clears the fault and waits for heating to be allowed again.
import type { Profile } from './profile.js';
import type { Report } from './report.js';
import { connectSse } from './sse.js';
import { msSince, summarize } from './stats.js';

export interface FailSafeTimes {
  /** Milliseconds from the fault injected to the peltier reported at duty 0, one per round. */
  offMs: number[];
}

async function call(url: string, method: string, headers: Record<string, string>, body?: unknown): Promise<unknown> {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url} answered ${res.status}: ${text.slice(0, 200)}`);
  return text ? JSON.parse(text) : null;
}

/** Rounds of: heat at 100 %, inject crc_error on every thermometer, time until duty 0 is on the stream. */
export async function measureThermometerFailSafe(
  baseUrl: string,
  rounds: number,
  headers: Record<string, string> = {},
): Promise<FailSafeTimes> {
  let waiter: { resolve: () => void; since: bigint } | null = null;
  let released: (() => void) | null = null;
  const offMs: number[] = [];
  const conn = connectSse(
    `${baseUrl}/api/v3/stream`,
    (e) => {
      if (e.event === 'safety' && released && JSON.parse(e.data).interlocks.length === 0) released();
      if (e.event !== 'component.changed' || !waiter) return;
      const body = JSON.parse(e.data) as { component: string; source: string; state: { duty_cycle: number } };
      if (body.component !== 'peltier_driver' || body.source !== 'safety:no-temperature') return;
      if (body.state.duty_cycle !== 0) return;
      offMs.push(msSince(waiter.since));
      waiter.resolve();
      waiter = null;
    },
    headers,
  );
  const status = await conn.opened;
  if (status !== 200) throw new Error(`GET /api/v3/stream answered ${status}`);
  const peltier = `${baseUrl}/api/v3/peltier_driver/control`;
  const faults = `${baseUrl}/api/v3/simulation/faults`;
  try {
    for (let round = 0; round < rounds; round++) {
      await call(peltier, 'POST', headers, { duty_cycle: 100, direction: 'heat' });
      const w = { resolve: () => {}, since: 0n };
      const off = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('the peltier was not switched off within 10 s')), 10_000);
        w.resolve = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      // Timed from the fault request: the node may cut the heating before its answer is read here.
      w.since = process.hrtime.bigint();
      waiter = w;
      await call(faults, 'POST', headers, { component: 'temp_sensor', fault: 'crc_error' });
      await off;
      const allowed = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 10_000);
        released = () => {
          clearTimeout(timer);
          released = null;
          resolve();
        };
      });
      await call(faults, 'DELETE', headers);
      await allowed;
    }
  } finally {
    await call(peltier, 'POST', headers, { duty_cycle: 0, direction: 'cool' }).catch(() => undefined);
    await call(faults, 'DELETE', headers).catch(() => undefined);
    conn.close();
  }
  return { offMs };
}

export async function benchNodeSafety(
  report: Report,
  node: { url: string },
  profile: Profile,
  headers: Record<string, string>,
): Promise<void> {
  const rounds = profile.name === 'quick' ? 3 : 10;
  const { offMs } = await measureThermometerFailSafe(node.url, rounds, headers);
  const s = summarize(offMs);
  const section = 'Node fail-safe';
  report.add(
    section,
    `injected thermometer failure → peltier duty 0: p50 (${s.count} rounds)`,
    s.p50,
    'ms',
    'bound: one thermometer period, 1,500 ms with two DS18B20 at 1 s',
  );
  report.add(section, 'injected thermometer failure → peltier duty 0: max', s.max, 'ms');
}
