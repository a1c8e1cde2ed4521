// Live data pushed end to end, measured from the event that starts it to its arrival at each browser stream:
//  - actuator command sent (POST to the node) → live.changed at each client of the web server's /api/stream;
//  - CSV row written (its timestamp, written by the experiment script at that moment) → live.rows at each client;
// with 1 and with 1,000 clients, through the real node, hub and web processes. Then the web server's CPU and RSS
// while 8 reactors push a sample of each sensor every second (a hub on loopback serving 8 nodes' streams as the hub
// relays them, to a second real web process) with 1,000 clients connected.
import { createServer, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { submit, untilStatus } from './hub-client.js';
import { MiB, measureWhile } from './proc.js';
import type { Profile } from './profile.js';
import type { Report } from './report.js';
import { connectSse, type SseConnection, type SseEvent } from './sse.js';
import { summarize } from './stats.js';
import { type BioreactorSystem, freePort, ServiceProcess, waitFor } from './system.js';

const ROWS_SCRIPT = (rows: number, everyS: number) => `import datetime, time
with open("experiment_data.csv", "w", buffering=1) as f:
    f.write("timestamp,co2_ppm,temperature\\n")
    for i in range(${rows}):
        f.write(datetime.datetime.now(datetime.timezone.utc).isoformat() + ",%d,37.0\\n" % (400 + i))
        f.flush()
        time.sleep(${everyS})
`;

interface Clients {
  connections: SseConnection[];
  close(): void;
}

/** `count` browsers on /api/stream (all with `cookie`), each event handed to `onEvent` with its client's index. */
async function openClients(
  url: string,
  count: number,
  cookie: string,
  onEvent: (client: number, e: SseEvent) => void,
): Promise<Clients> {
  const connections = Array.from({ length: count }, (_, i) =>
    connectSse(`${url}/api/stream`, (e) => onEvent(i, e), { cookie }),
  );
  const statuses = await Promise.all(connections.map((c) => c.opened));
  const refused = statuses.filter((s) => s !== 200).length;
  if (refused) throw new Error(`${refused} of ${count} /api/stream connections were refused`);
  return {
    connections,
    close: () => {
      for (const c of connections) c.close();
    },
  };
}

/** Signs in to the web server as the admin (who may see every run's rows) and returns the cookie header. */
async function adminCookie(webUrl: string, password: string): Promise<string> {
  const jar = new Map<string, string>();
  const keep = (res: Response) => {
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair?.indexOf('=') ?? -1;
      if (pair && eq > 0) jar.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
  };
  const cookie = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  keep(await fetch(`${webUrl}/api/session`));
  const res = await fetch(`${webUrl}/api/account/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie: cookie(), 'x-csrf-token': jar.get('csrf_token') ?? '' },
    body: JSON.stringify({ username: 'admin', password }),
  });
  if (!res.ok) throw new Error(`admin sign-in answered ${res.status}: ${await res.text()}`);
  keep(res);
  return cookie();
}

export async function benchLiveStream(
  report: Report,
  system: BioreactorSystem,
  profile: Profile,
  serviceHeaders: Record<string, string>,
  adminPassword: string,
): Promise<void> {
  const cookie = await adminCookie(system.web.url, adminPassword);
  const nodeName = await waitForNodeName(system.hub.url, serviceHeaders);
  for (const count of [1, profile.liveClients]) {
    const section = `Live data pushed to ${count.toLocaleString('en')} browser stream${count === 1 ? '' : 's'} (node → hub → web)`;
    const ready = new Set<number>();
    let sentMs = 0;
    let duty = 0;
    const changed: number[] = [];
    const rows: number[] = [];
    let rowsSeen = 0;
    const clients = await openClients(system.web.url, count, cookie, (i, e) => {
      if (e.event === 'live.status' && e.data.includes(`"node":"${nodeName}","connected":true`)) ready.add(i);
      else if (e.event === 'live.changed') {
        const d = JSON.parse(e.data) as { component: string; state: { duty_cycle?: number } };
        if (d.component === 'stirrer' && d.state.duty_cycle === duty) changed.push(e.receivedMs - sentMs);
      } else if (e.event === 'live.rows') {
        for (const row of (JSON.parse(e.data) as { rows: { epoch_ms: number }[] }).rows) {
          rows.push(e.receivedMs - row.epoch_ms);
          rowsSeen++;
        }
      }
    });
    try {
      await waitFor(`${count} clients to see ${nodeName} connected`, () => ready.size === count, 60_000);
      const rounds = Math.max(10, Math.round(profile.liveWindowMs / 200));
      for (let r = 0; r < rounds; r++) {
        duty = 10 + (r % 80);
        const expected = changed.length + count;
        sentMs = Date.now();
        const res = await fetch(`${system.node.url}/api/v3/stirrer/control`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...serviceHeaders },
          body: JSON.stringify({ duty_cycle: duty }),
        });
        if (!res.ok) throw new Error(`stirrer control answered ${res.status}: ${await res.text()}`);
        await waitFor('live.changed at every client', () => changed.length >= expected, 10_000, 2);
      }
      const c = summarize(changed);
      report.add(section, `actuator command sent → live.changed at each client: p50 (${c.count})`, c.p50, 'ms');
      report.add(section, 'actuator command sent → live.changed at each client: p99', c.p99, 'ms');

      const rowCount = Math.max(8, Math.round(profile.liveWindowMs / 250));
      const id = await submit(system.hub.url, ROWS_SCRIPT(rowCount, 0.25), {
        ...serviceHeaders,
        'x-session-id': 'bench-user',
      });
      await untilStatus(system.hub.url, id, ['completed', 'failed', 'cancelled'], serviceHeaders, 120_000);
      // The last rows may still be on their way when the run ends.
      await waitFor('every row at every client', () => rowsSeen >= rowCount * count, 10_000).catch(() => undefined);
      if (rowsSeen === 0) throw new Error('no live.rows reached a client');
      const w = summarize(rows);
      report.add(section, `CSV row written → live.rows at each client: p50 (${w.count})`, w.p50, 'ms');
      report.add(section, 'CSV row written → live.rows at each client: p99', w.p99, 'ms');
      report.add(section, 'rows delivered of those written × clients', (rowsSeen / (rowCount * count)) * 100, '%');
    } finally {
      clients.close();
    }
  }
  report.note(
    'live stream: "actuator command sent" is when the bench POSTs the command to the node; "CSV row written" is the row’s own timestamp, taken by the script as it writes the row; both to the moment each client’s /api/stream delivers the event (one machine, one clock)',
  );
  await benchEightNodes(report, profile, system.dir);
}

async function waitForNodeName(hubUrl: string, headers: Record<string, string>): Promise<string> {
  let name = '';
  await waitFor('the hub to list its node', async () => {
    const res = await fetch(`${hubUrl}/api/nodes`, { headers });
    name = ((await res.json()) as { nodes: { name: string }[] }).nodes[0]?.name ?? '';
    return name !== '';
  });
  return name;
}

/** The sensors of a node, each pushing a sample per second. */
const SENSORS: [string, (t: number) => Record<string, unknown>][] = [
  ['co2_sensor', (t) => ({ status: 'success', co2_ppm: 400 + (t % 50), unit: 'ppm' })],
  ['temp_sensor', (t) => ({ status: 'success', temperature: 37 + (t % 10) / 10, temperatures: [37] })],
  ['optical_density', () => ({ status: 'success', voltages: [1.1, 1.2, 0.9], channels: ['135', 'Ref', '90'] })],
  ['eyespy_adc', () => ({ status: 'success', voltages: [0.5, 0.6] })],
];

/** A hub on loopback that serves `nodes` nodes' streams as the hub relays them, each sensor at 1 Hz. */
async function eightNodeHub(nodes: string[]) {
  const followers = new Map<string, Set<ServerResponse>>();
  let seq = 0;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const stream = /^\/api\/nodes\/([^/]+)\/stream$/.exec(url.pathname);
    const sse = () => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write('retry: 1000\n\n');
    };
    if (url.pathname === '/api/nodes') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ nodes: nodes.map((name) => ({ name, url: 'http://127.0.0.1:9', online: true })) }));
    } else if (url.pathname === '/api/events') {
      sse();
      const queue = { total_queued: 0, total_running: 0, total_paused: 0, estimated_wait_minutes: 0, queue: [] };
      res.write(`event: queue.updated\ndata: ${JSON.stringify(queue)}\n\n`);
    } else if (stream?.[1]) {
      sse();
      const set = followers.get(stream[1]) ?? new Set();
      followers.set(stream[1], set);
      set.add(res);
      res.write(
        `event: node.stream\ndata: ${JSON.stringify({ node: stream[1], connected: true, reason: 'connected' })}\n\n`,
      );
      req.on('close', () => set.delete(res));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  let tick = 0;
  const timer = setInterval(() => {
    tick++;
    const at = Date.now();
    for (const set of followers.values())
      for (const [component, state] of SENSORS) {
        seq++;
        const frame = `event: component.sample\nid: bench-${seq}\ndata: ${JSON.stringify({ component, state: state(tick), at_ms: at })}\n\n`;
        for (const res of set) res.write(frame);
      }
  }, 1000);
  return {
    url,
    connected: () => [...followers.values()].filter((s) => s.size > 0).length,
    close: () => {
      clearInterval(timer);
      for (const set of followers.values()) for (const res of set) res.destroy();
      server.close();
    },
  };
}

async function benchEightNodes(report: Report, profile: Profile, dir: string): Promise<void> {
  const nodes = Array.from({ length: 8 }, (_, i) => `reactor-${i + 1}`);
  const hub = await eightNodeHub(nodes);
  const web = new ServiceProcess('web', await freePort(), {
    LOG_LEVEL: 'WARNING',
    BIOREACTOR_CONFIG_DIR: join(dir, 'web-8-nodes'),
    BIOREACTOR_HUB_API_URL: hub.url,
  });
  await web.start();
  const section = `Web server with 8 reactors at 1 Hz and ${profile.liveClients.toLocaleString('en')} browser streams`;
  let samples = 0;
  try {
    await waitFor('the web server to follow all 8 nodes', () => hub.connected() === 8, 30_000);
    const idle = await measureWhile(web.pid, () => new Promise((r) => setTimeout(r, profile.liveWindowMs / 2)));
    report.add(section, 'web server CPU, 8 reactors and no browser', idle.cpuPercent, '% of a core');
    const clients = await openClients(web.url, profile.liveClients, '', (_i, e) => {
      if (e.event === 'live.samples') samples++;
    });
    try {
      // Counted over the measured window only, not while the connections opened.
      samples = 0;
      const started = performance.now();
      const usage = await measureWhile(web.pid, () => new Promise((r) => setTimeout(r, profile.liveWindowMs)));
      const seconds = (performance.now() - started) / 1000;
      report.add(section, 'web server CPU', usage.cpuPercent, '% of a core');
      report.add(section, 'web server RSS (peak)', usage.peakRssBytes / MiB, 'MiB');
      report.add(
        section,
        'live.samples per client per second',
        samples / profile.liveClients / seconds,
        '/s',
        'update_interval 2 s: 0.5',
      );
    } finally {
      clients.close();
    }
  } finally {
    await web.stop();
    hub.close();
  }
}
