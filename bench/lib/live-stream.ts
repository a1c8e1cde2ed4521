// Live data pushed end to end, measured from the event that starts it to its arrival at each browser stream:
//  - actuator command sent (POST to a node's v3 control route) → live.changed at each client of the web server's
//    /api/stream;
//  - CSV row written (its timestamp, written by the experiment script at that moment) → live.rows at each client;
// first with 1 and with 1,000 clients through one real node, hub and web; then in a lab of 8 real node processes in
// simulation, each sampling its sensors, driven by a real hub and followed by a real web server with 1,000 clients,
// where the same two paths are measured on one of the 8 nodes, next to the web server's and the hub's CPU and RSS.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { submit, untilStatus } from './hub-client.js';
import { MiB, measureWhile, type UsageWindow } from './proc.js';
import type { Profile } from './profile.js';
import type { Report } from './report.js';
import { connectSse, type SseConnection, type SseEvent } from './sse.js';
import { summarize } from './stats.js';
import { type BioreactorSystem, freePort, ServiceProcess, SIMULATED_HARDWARE_FILE, waitFor } from './system.js';

const ROWS_SCRIPT = (rows: number, everyS: number) => `import datetime, time
with open("experiment_data.csv", "w", buffering=1) as f:
    f.write("timestamp,co2_ppm,temperature\\n")
    for i in range(${rows}):
        f.write(datetime.datetime.now(datetime.timezone.utc).isoformat() + ",%d,37.0\\n" % (400 + i))
        f.flush()
        time.sleep(${everyS})
`;
/** Seconds between the rows the script writes. */
const ROW_EVERY_S = 0.25;
const LAB_NODES = 8;

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
  const close = () => {
    for (const c of connections) c.close();
  };
  const refused = statuses.filter((s) => s !== 200).length;
  if (refused) {
    close();
    throw new Error(`${refused} of ${count} /api/stream connections were refused`);
  }
  return { connections, close };
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

/**
 * What every client of a measurement sees: whether all the expected reactors are connected, each stirrer change of
 * `commandNode` (delay from the moment the bench sent it), each CSV row of a run (delay from the row's own timestamp)
 * and the live.samples count.
 */
class LiveProbe {
  readonly ready = new Set<number>();
  readonly changed: number[] = [];
  /** Per command, its delay to the first client that had it: the path up to the web server's fan-out. */
  readonly firstChanged: number[] = [];
  readonly rows: number[] = [];
  /** Per row (by its timestamp), its delay to the first client that had it. */
  readonly firstRow = new Map<number, number>();
  rowsSeen = 0;
  samples = 0;
  duty = 0;
  sentMs = 0;
  /** Commands sent so far. */
  round = 0;

  constructor(
    private readonly expectedNodes: readonly string[],
    private readonly commandNode: string,
  ) {}

  readonly onEvent = (client: number, e: SseEvent): void => {
    if (e.event === 'live.status') {
      const { nodes } = JSON.parse(e.data) as { nodes: { node: string; connected: boolean }[] };
      const connected = new Set(nodes.filter((n) => n.connected).map((n) => n.node));
      if (this.expectedNodes.every((n) => connected.has(n))) this.ready.add(client);
      else this.ready.delete(client);
    } else if (e.event === 'live.changed') {
      const d = JSON.parse(e.data) as { node: string; component: string; state: { duty_cycle?: number } };
      if (d.node !== this.commandNode || d.component !== 'stirrer' || d.state.duty_cycle !== this.duty) return;
      const delay = e.receivedMs - this.sentMs;
      this.changed.push(delay);
      if (this.firstChanged.length < this.round) this.firstChanged.push(delay);
    } else if (e.event === 'live.rows') {
      for (const row of (JSON.parse(e.data) as { rows: { epoch_ms: number }[] }).rows) {
        const delay = e.receivedMs - row.epoch_ms;
        this.rows.push(delay);
        this.rowsSeen++;
        if (!this.firstRow.has(row.epoch_ms)) this.firstRow.set(row.epoch_ms, delay);
      }
    } else if (e.event === 'live.samples') this.samples++;
  };
}

/** `rounds` stirrer commands to the node at `nodeUrl`, each waited for at every one of `clients` clients. */
async function commandRounds(
  probe: LiveProbe,
  nodeUrl: string,
  clients: number,
  rounds: number,
  serviceHeaders: Record<string, string>,
): Promise<void> {
  for (let r = 0; r < rounds; r++) {
    probe.duty = 10 + (r % 80);
    probe.round++;
    const expected = probe.changed.length + clients;
    probe.sentMs = Date.now();
    const res = await fetch(`${nodeUrl}/api/v3/stirrer/control`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...serviceHeaders },
      body: JSON.stringify({ duty_cycle: probe.duty }),
    });
    if (!res.ok) throw new Error(`stirrer control answered ${res.status}: ${await res.text()}`);
    await waitFor('live.changed at every client', () => probe.changed.length >= expected, 10_000, 2);
  }
}

/** A run writing `rowCount` rows, one every ROW_EVERY_S, through the hub (on `node` if given), until it ends. */
async function rowsRun(
  probe: LiveProbe,
  hubUrl: string,
  clients: number,
  rowCount: number,
  serviceHeaders: Record<string, string>,
  node?: string,
): Promise<void> {
  const id = await submit(
    hubUrl,
    ROWS_SCRIPT(rowCount, ROW_EVERY_S),
    { ...serviceHeaders, 'x-session-id': 'bench-user' },
    node ? { node } : {},
  );
  const run = await untilStatus(hubUrl, id, ['completed', 'failed', 'cancelled'], serviceHeaders, 120_000);
  if (node && run.node !== node) throw new Error(`the run went to ${run.node}, not ${node}`);
  // The last rows may still be on their way when the run ends.
  await waitFor('every row at every client', () => probe.rowsSeen >= rowCount * clients, 10_000).catch(() => undefined);
  if (probe.rowsSeen === 0) throw new Error('no live.rows reached a client');
}

function addLatencies(
  report: Report,
  section: string,
  probe: LiveProbe,
  where: string,
  clients: number,
  rowCount: number,
): void {
  const c = summarize(probe.changed);
  report.add(section, `actuator command sent${where} → live.changed at each client: p50 (${c.count})`, c.p50, 'ms');
  report.add(
    section,
    `actuator command sent${where} → live.changed at each client: p99`,
    c.p99,
    'ms',
    'target < 250 ms',
  );
  const w = summarize(probe.rows);
  report.add(section, `CSV row written${where} → live.rows at each client: p50 (${w.count})`, w.p50, 'ms');
  report.add(section, `CSV row written${where} → live.rows at each client: p99`, w.p99, 'ms', 'target < 250 ms');
  report.add(section, 'rows delivered of those written × clients', (probe.rowsSeen / (rowCount * clients)) * 100, '%');
  if (clients === 1) return;
  // The first client to get each event: the delay up to the web server's fan-out, the rest is the fan-out itself.
  const fc = summarize(probe.firstChanged);
  report.add(section, `actuator command sent${where} → live.changed at the first client: p50`, fc.p50, 'ms');
  report.add(section, `actuator command sent${where} → live.changed at the first client: p99`, fc.p99, 'ms');
  const fr = summarize([...probe.firstRow.values()]);
  report.add(section, `CSV row written${where} → live.rows at the first client: p50`, fr.p50, 'ms');
  report.add(section, `CSV row written${where} → live.rows at the first client: p99`, fr.p99, 'ms');
  // The run's first row is written while the node is still starting the run and the web server learns of it.
  const firstWritten = Math.min(...probe.firstRow.keys());
  report.add(
    section,
    `the run's first CSV row written${where} → live.rows at the first client`,
    probe.firstRow.get(firstWritten) ?? Number.NaN,
    'ms',
  );
}

export async function benchLiveStream(
  report: Report,
  system: BioreactorSystem,
  profile: Profile,
  serviceHeaders: Record<string, string>,
  adminPassword: string,
  token: string,
): Promise<void> {
  const cookie = await adminCookie(system.web.url, adminPassword);
  const [nodeName = ''] = await hubNodeNames(system.hub.url, serviceHeaders, 1);
  const rounds = Math.max(10, Math.round(profile.liveWindowMs / 200));
  const rowCount = Math.max(8, Math.round(profile.liveWindowMs / (ROW_EVERY_S * 1000)));
  for (const count of [1, profile.liveClients]) {
    const section = `Live data pushed to ${count.toLocaleString('en')} browser stream${count === 1 ? '' : 's'} (one node → hub → web)`;
    const probe = new LiveProbe([nodeName], nodeName);
    const clients = await openClients(system.web.url, count, cookie, probe.onEvent);
    try {
      await waitFor(`${count} clients to see ${nodeName} connected`, () => probe.ready.size === count, 60_000);
      await commandRounds(probe, system.node.url, count, rounds, serviceHeaders);
      await rowsRun(probe, system.hub.url, count, rowCount, serviceHeaders);
      addLatencies(report, section, probe, '', count, rowCount);
    } finally {
      clients.close();
    }
  }
  report.note(
    'live stream: "actuator command sent" is when the bench POSTs the command to the node; "CSV row written" is the row’s own timestamp, taken by the script as it writes the row; both to the moment each client’s /api/stream delivers the event (one machine, one clock)',
  );
  await benchLab(report, profile, system.dir, token, adminPassword, serviceHeaders);
}

/** The names the hub gives its nodes, in the order of `urls` when given, once it lists `count` of them online. */
async function hubNodeNames(
  hubUrl: string,
  headers: Record<string, string>,
  count: number,
  urls?: string[],
): Promise<string[]> {
  let nodes: { name: string; url: string; online: boolean }[] = [];
  await waitFor(
    `the hub to list ${count} node${count === 1 ? '' : 's'} online`,
    async () => {
      const res = await fetch(`${hubUrl}/api/nodes`, { headers });
      nodes = ((await res.json()) as { nodes: typeof nodes }).nodes;
      return nodes.filter((n) => n.online).length >= count;
    },
    60_000,
    200,
  );
  if (!urls) return nodes.map((n) => n.name);
  return urls.map((url) => {
    const name = nodes.find((n) => n.url.replace(/\/$/, '') === url)?.name;
    if (!name) throw new Error(`the hub does not list ${url}: ${JSON.stringify(nodes)}`);
    return name;
  });
}

/** Counts the component.sample events of each sensor on each node's own /api/v3/stream (beside the hub). */
function countSamples(nodes: ServiceProcess[], headers: Record<string, string>) {
  const counts = new Map<string, number>();
  const connections = nodes.map((n) =>
    connectSse(
      `${n.url}/api/v3/stream`,
      (e) => {
        if (e.event !== 'component.sample') return;
        const { component } = JSON.parse(e.data) as { component: string };
        counts.set(component, (counts.get(component) ?? 0) + 1);
      },
      headers,
    ),
  );
  return {
    opened: Promise.all(connections.map((c) => c.opened)),
    counts,
    close: () => {
      for (const c of connections) c.close();
    },
  };
}

/** Measures the web server and the hub over the same window. */
async function measureBoth(web: number, hub: number, ms: number): Promise<{ web: UsageWindow; hub: UsageWindow }> {
  let hubUsage: UsageWindow | undefined;
  const webUsage = await measureWhile(web, async () => {
    hubUsage = await measureWhile(hub, () => new Promise((r) => setTimeout(r, ms)));
  });
  if (!hubUsage) throw new Error('unreachable');
  return { web: webUsage, hub: hubUsage };
}

/**
 * A lab of LAB_NODES real node processes in simulation (each its own port and data folder, the deployed hardware
 * file's sample intervals), a hub that drives them all (BIOREACTOR_NODE_API_URL lists them, the hub's default health
 * interval) and a web server following them through it, with the service token and an admin as deployed.
 */
async function benchLab(
  report: Report,
  profile: Profile,
  dir: string,
  token: string,
  adminPassword: string,
  serviceHeaders: Record<string, string>,
): Promise<void> {
  const common = { LOG_LEVEL: 'WARNING', BIOREACTOR_API_TOKEN: token };
  const nodes: ServiceProcess[] = [];
  for (let i = 0; i < LAB_NODES; i++)
    nodes.push(
      new ServiceProcess('node', await freePort(), {
        ...common,
        HARDWARE_MODE: 'simulation',
        DATA_DIR: join(dir, `lab-node-${i + 1}`),
        BIOREACTOR_HARDWARE_CONFIG: SIMULATED_HARDWARE_FILE,
        BIOREACTOR_RUNNER: 'local',
        BIOREACTOR_EXPERIMENT_STOP_GRACE_S: '2',
      }),
    );
  const hub = new ServiceProcess('hub', await freePort(), {
    ...common,
    DATA_DIR: join(dir, 'lab-hub'),
    BIOREACTOR_NODE_API_URL: nodes.map((n) => n.url).join(','),
  });
  const web = new ServiceProcess('web', await freePort(), {
    ...common,
    BIOREACTOR_CONFIG_DIR: join(dir, 'lab-web'),
    BIOREACTOR_HUB_API_URL: hub.url,
    BIOREACTOR_ADMIN_PASSWORD: adminPassword,
  });
  const section = `Lab of ${LAB_NODES} nodes (real processes, simulation) → hub → web → ${profile.liveClients.toLocaleString('en')} browser streams`;
  let samples: ReturnType<typeof countSamples> | undefined;
  try {
    const t0 = Date.now();
    await Promise.all(nodes.map((n) => n.start(120_000)));
    await Promise.all([hub.start(), web.start()]);
    const names = await hubNodeNames(
      hub.url,
      serviceHeaders,
      LAB_NODES,
      nodes.map((n) => n.url),
    );
    report.add(section, `${LAB_NODES} nodes, hub and web started, every node online at the hub`, Date.now() - t0, 'ms');
    samples = countSamples(nodes, serviceHeaders);
    const [commandIdx, runIdx] = [2, 5];
    const commandNode = names[commandIdx] ?? '';
    const runNode = names[runIdx] ?? '';
    const cookie = await adminCookie(web.url, adminPassword);

    // The web server following all 8 nodes, before any browser.
    const first = new LiveProbe(names, commandNode);
    const one = await openClients(web.url, 1, cookie, first.onEvent);
    await waitFor('the web server to follow all 8 nodes', () => first.ready.size === 1, 60_000);
    one.close();
    const idle = await measureBoth(web.pid, hub.pid, profile.liveWindowMs / 2);
    report.add(section, `web server CPU, ${LAB_NODES} nodes and no browser`, idle.web.cpuPercent, '% of a core');
    report.add(section, `hub CPU, ${LAB_NODES} nodes relayed to the web server`, idle.hub.cpuPercent, '% of a core');

    await samples.opened;
    const probe = new LiveProbe(names, commandNode);
    const count = profile.liveClients;
    const clients = await openClients(web.url, count, cookie, probe.onEvent);
    try {
      await waitFor(
        `${count} clients to see all ${LAB_NODES} nodes connected`,
        () => probe.ready.size === count,
        60_000,
      );
      // Counted over the measured window only, not while the connections opened.
      probe.samples = 0;
      samples.counts.clear();
      const started = performance.now();
      const usage = await measureBoth(web.pid, hub.pid, profile.liveWindowMs);
      const seconds = (performance.now() - started) / 1000;
      report.add(
        section,
        'web server CPU, steady (no command, no run)',
        usage.web.cpuPercent,
        '% of a core',
        'target < 10 %',
      );
      report.add(section, 'web server RSS (peak)', usage.web.peakRssBytes / MiB, 'MiB');
      report.add(section, 'hub CPU, steady', usage.hub.cpuPercent, '% of a core');
      report.add(section, 'hub RSS (peak)', usage.hub.peakRssBytes / MiB, 'MiB');
      for (const [component, n] of [...samples.counts].sort()) {
        report.add(
          section,
          `${component}: component.sample per node per second (node stream)`,
          n / LAB_NODES / seconds,
          '/s',
        );
      }
      report.add(
        section,
        'live.samples per client per second',
        probe.samples / count / seconds,
        '/s',
        'update_interval 2 s: 0.5',
      );

      const rounds = Math.max(10, Math.round(profile.liveWindowMs / 200));
      const rowCount = Math.max(8, Math.round(profile.liveWindowMs / (ROW_EVERY_S * 1000)));
      await commandRounds(probe, nodes[commandIdx]?.url ?? '', count, rounds, serviceHeaders);
      await rowsRun(probe, hub.url, count, rowCount, serviceHeaders, runNode);
      addLatencies(report, section, probe, ` (one of ${LAB_NODES} nodes)`, count, rowCount);
    } finally {
      clients.close();
    }
    const intervals = Object.entries(
      (JSON.parse(readFileSync(SIMULATED_HARDWARE_FILE, 'utf8')) as { sample_intervals_s: Record<string, number> })
        .sample_intervals_s,
    )
      .map(([c, s]) => `${c} ${s} s`)
      .join(', ');
    report.note(
      `lab: ${LAB_NODES} node processes with the simulated hardware file's sample_intervals_s (${intervals}; the CO2 sensor's minimum is 2 s), their samples counted on each node's own /api/v3/stream; the command goes to ${commandNode}'s stirrer, the run to ${runNode}; CPU is % of one core over the window, read from /proc`,
    );
  } finally {
    samples?.close();
    await Promise.all([web.stop(), hub.stop()]);
    await Promise.all(nodes.map((n) => n.stop()));
  }
}
