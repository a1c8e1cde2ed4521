// The deployment guide's "Testing the Deployment", against the real images: docker-compose.yml is built and started
// (in a temporary data root, on free ports, with a service token), then the guide's checks are made the way an
// operator makes them: health on the three ports, the guide's test script queued on the hub, the queue followed,
// the experiment container seen starting next to the node through the mounted Docker socket, its files on the
// host, the results downloaded and the dashboard's data. Everything it started is removed at the end.
//
// It builds four images (a few minutes the first time), so it runs in CI (CI=true) or when
// BIOREACTOR_E2E_DEPLOY=1; the base images come from scripts/build-base-images.sh where no registry is reachable.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeCommand, type DockerEvent, dockerUnavailable, followContainerEvents, repoRoot, run } from './docker.js';

const CONTAINERS = {
  node: 'bioreactor-node-v3',
  hub: 'bioreactor-hub',
  web: 'bioreactor_website-web-server-1',
} as const;
const NETWORK = 'bioreactor_website_bioreactor-network';
const EXPERIMENT_IMAGE = 'bioreactor-experiment';
const TOKEN = 'e2e-deploy-token-0123456789abcdef';

// The guide's test script, as written there.
const TEST_EXPERIMENT = `from bioreactor_client import Bioreactor, measure_all_data, write_data_to_csv
import time

bioreactor = Bioreactor()
data = measure_all_data(bioreactor)
write_data_to_csv(data)
print(f"CO2: {data.get('co2_ppm')} ppm")
`;

function skipReason(): string | null {
  if (!process.env.CI && process.env.BIOREACTOR_E2E_DEPLOY !== '1') {
    return 'builds and runs the Docker images for minutes: runs in CI, or locally with BIOREACTOR_E2E_DEPLOY=1';
  }
  const docker = dockerUnavailable();
  if (docker) return docker;
  if (!composeCommand())
    return 'neither `docker compose` nor `docker-compose` is installed (apt-get install docker-compose)';
  return null;
}

const reason = skipReason();
if (reason) console.log(`[deploy e2e skipped] ${reason}`);

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** A JSON body, typed as far as these checks read it. */
async function json<T = Record<string, unknown>>(res: Response): Promise<T> {
  return (await res.json()) as T;
}

interface Experiment {
  experiment_id: string;
  status: string;
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(
    `timed out after ${timeoutMs / 1000}s waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`,
  );
}

describe.skipIf(reason !== null)('docker compose deployment (the guide’s "Testing the Deployment")', () => {
  const compose = composeCommand() ?? ['docker-compose'];
  const dataRoot = mkdtempSync(join(tmpdir(), 'bioreactor-deploy-'));
  const ports = { web: 0, hub: 0, node: 0 };
  let env: NodeJS.ProcessEnv = {};
  const url = (service: keyof typeof ports, path: string) => `http://127.0.0.1:${ports[service]}${path}`;
  const auth = { authorization: `Bearer ${TOKEN}` };
  const composeRun = (args: string[], timeoutMs = 600_000) =>
    run(compose[0] as string, [...compose.slice(1), '-f', join(repoRoot, 'docker-compose.yml'), ...args], {
      env,
      timeoutMs,
    });
  let events: { events: DockerEvent[]; stop: () => void } | undefined;
  let experimentId = '';

  beforeAll(async () => {
    ports.web = await freePort();
    ports.hub = await freePort();
    ports.node = await freePort();
    env = {
      ...process.env,
      COMPOSE_PROJECT_NAME: 'bioreactor_e2e',
      BIOREACTOR_DATA_ROOT: dataRoot,
      WEB_PORT: String(ports.web),
      HUB_PORT: String(ports.hub),
      NODE_PORT: String(ports.node),
      BIOREACTOR_API_TOKEN: TOKEN,
      HARDWARE_MODE: 'simulation',
      LOG_LEVEL: 'INFO',
    };
    // A run that was killed leaves containers with the guide's fixed names behind; they would block this one.
    await composeRun(['down', '--remove-orphans', '--timeout', '5'], 120_000).catch(() => undefined);
    const started = Date.now();
    await composeRun(['build'], 1_500_000);
    console.log(`[deploy e2e] images built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    const up = Date.now();
    await composeRun(['up', '-d'], 300_000);
    await waitFor('the three services to answer /health', 180_000, async () => {
      for (const service of ['node', 'hub', 'web'] as const) {
        const res = await fetch(url(service, '/health'));
        if (!res.ok) return undefined;
      }
      return true;
    });
    console.log(`[deploy e2e] services healthy ${((Date.now() - up) / 1000).toFixed(0)} s after up`);
  }, 2_400_000);

  afterAll(async () => {
    events?.stop();
    if (process.env.BIOREACTOR_E2E_KEEP !== '1') {
      await composeRun(['logs', '--no-color', '--tail', '60'], 60_000)
        .then((logs) => writeFileSync(join(tmpdir(), 'bioreactor-deploy-e2e.log'), logs))
        .catch(() => undefined);
      await composeRun(['down', '--volumes', '--remove-orphans', '--timeout', '10'], 180_000).catch((err) =>
        console.error(String(err)),
      );
      // The node's experiment containers are the engine's, not compose's: remove any this run left (only this run's,
      // by their experiment label; other tests may have their own running).
      if (experimentId) {
        const left = spawnSync('docker', ['ps', '-aq', '--filter', `label=org.bioreactor.experiment=${experimentId}`], {
          encoding: 'utf8',
        });
        const ids = left.stdout.split('\n').filter(Boolean);
        if (ids.length > 0) spawnSync('docker', ['rm', '-f', ...ids], { stdio: 'ignore' });
      }
      // Files written by the containers belong to root or uid 1000; the temporary root goes with them.
      rmSync(dataRoot, { recursive: true, force: true });
    }
  }, 300_000);

  it('answers the guide’s health checks on 9000, 8000 and 3000', async () => {
    const status = await fetch(url('node', '/api/status'), { headers: auth });
    expect(status.status).toBe(200);
    expect(await status.json()).toMatchObject({ status: 'operational', hardware_mode: 'simulation' });

    const queue = await fetch(url('hub', '/api/queue/status'), { headers: auth });
    expect(queue.status).toBe(200);
    expect(await queue.json()).toMatchObject({ total_queued: 0, total_running: 0, queue: [] });

    const page = await fetch(url('web', '/'));
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');

    const capabilities = await fetch(url('node', '/api/v3/capabilities'), { headers: auth });
    expect(Object.keys(await json(capabilities))).toContain('co2_sensor');
  });

  it('keeps the node and the hub closed without the service token, /health open', async () => {
    expect((await fetch(url('hub', '/api/queue/status'))).status).toBe(401);
    expect((await fetch(url('node', '/api/v3/capabilities'))).status).toBe(401);
    expect((await fetch(url('hub', '/health'))).status).toBe(200);
  });

  it('uses the guide’s container and network names, runs hub and web unprivileged, and passes the image health checks', async () => {
    const network = JSON.parse(await run('docker', ['network', 'inspect', NETWORK]))[0];
    const attached = Object.values(network.Containers as Record<string, { Name: string }>).map((c) => c.Name);
    expect(attached).toEqual(expect.arrayContaining(Object.values(CONTAINERS)));

    // The service is PID 1 once the entrypoint has handed over (docker exec itself would run as root).
    const serviceUid = async (container: string) =>
      (await run('docker', ['exec', container, 'stat', '-c', '%u', '/proc/1'])).trim();
    expect(await serviceUid(CONTAINERS.hub)).toBe('1000');
    expect(await serviceUid(CONTAINERS.web)).toBe('1000');

    await waitFor('the Docker HEALTHCHECK of all three to report healthy', 120_000, async () => {
      const states = await Promise.all(
        Object.values(CONTAINERS).map(async (c) =>
          (await run('docker', ['inspect', '-f', '{{.State.Health.Status}}', c])).trim(),
        ),
      );
      return states.every((s) => s === 'healthy') ? states : undefined;
    });
  });

  it('queues the guide’s test script and runs it in a sibling container through the Docker socket', async () => {
    events = followContainerEvents();
    writeFileSync(join(dataRoot, 'test_experiment.py'), TEST_EXPERIMENT);
    // The guide's curl builds its JSON by pasting the script between quotes, which breaks on the first newline;
    // this is the same request with the script properly JSON-encoded (what `jq -Rs '{script_content: .}'` sends).
    const res = await fetch(url('hub', '/api/experiments/start'), {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json', 'x-session-id': 'test-user' },
      body: JSON.stringify({ script_content: readFileSync(join(dataRoot, 'test_experiment.py'), 'utf8') }),
    });
    const body = await json<Experiment>(res);
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({ status: 'queued' });
    experimentId = body.experiment_id;
    expect(experimentId).toMatch(/^[A-Za-z0-9][A-Za-z0-9_-]*$/);

    const final = await waitFor('the experiment to finish', 180_000, async () => {
      const r = await fetch(url('hub', `/api/experiments/${experimentId}/status`), { headers: auth });
      const { experiment } = await json<{ experiment: Experiment }>(r);
      return ['completed', 'failed', 'cancelled', 'interrupted'].includes(experiment.status) ? experiment : undefined;
    });
    const logs = join(dataRoot, 'bioreactor-node-v3/data/experiments', experimentId, 'output/container_logs.txt');
    expect(final.status, existsSync(logs) ? readFileSync(logs, 'utf8') : JSON.stringify(final)).toBe('completed');

    // The host's engine started this experiment's container (a sibling of the node, not nested inside it), from
    // the experiment image, and saw it exit 0.
    const mine = () =>
      (events?.events ?? []).filter((e) => e.Actor.Attributes['org.bioreactor.experiment'] === experimentId);
    // The engine's event stream may reach this process a moment after the hub has seen the end.
    const died = await waitFor('the engine to report the experiment container’s exit', 15_000, async () =>
      mine().find((e) => e.Action === 'die'),
    );
    const start = mine().find((e) => e.Action === 'start');
    expect(start?.Actor.Attributes.image).toBe(EXPERIMENT_IMAGE);
    expect(died.Actor.Attributes.exitCode).toBe('0');
  });

  it('shows the experiment in the queue status and keeps its files where the guide looks for them', async () => {
    const queue = await (await fetch(url('hub', '/api/queue/status'), { headers: auth })).json();
    expect(queue).toMatchObject({ total_queued: 0, total_running: 0 });

    const mine = await json<{ experiments: Experiment[] }>(
      await fetch(url('hub', '/api/experiments/user'), { headers: { ...auth, 'x-session-id': 'test-user' } }),
    );
    expect(mine.experiments.map((e) => e.experiment_id)).toContain(experimentId);

    const dir = join(dataRoot, 'bioreactor-node-v3/data/experiments', experimentId);
    expect(readFileSync(join(dir, 'user_script.py'), 'utf8')).toBe(TEST_EXPERIMENT);
    expect(readFileSync(join(dir, 'output/container_logs.txt'), 'utf8')).toMatch(/CO2: \d+(\.\d+)? ppm/);
    const csv = readFileSync(join(dir, 'output/experiment_data.csv'), 'utf8').trim().split('\n');
    expect(csv[0]?.startsWith('timestamp,co2_ppm,temperature,od_voltages')).toBe(true);
    expect(csv).toHaveLength(2);

    const nodeLogs = spawnSync('docker', ['logs', CONTAINERS.node], { encoding: 'utf8' });
    expect(nodeLogs.stdout + nodeLogs.stderr).toContain(experimentId);
  });

  it('downloads the results through the hub', async () => {
    const res = await fetch(url('hub', `/api/experiments/${experimentId}/download`), { headers: auth });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toContain(`experiment_${experimentId}_results.zip`);
    const zipPath = join(dataRoot, 'results.zip');
    writeFileSync(zipPath, Buffer.from(await res.arrayBuffer()));
    const listing = spawnSync(
      'python3',
      [
        '-c',
        'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; print("\\n".join(z.namelist()))',
        zipPath,
      ],
      { encoding: 'utf8' },
    );
    expect(listing.status, listing.stderr).toBe(0);
    const names = listing.stdout.trim().split('\n');
    expect(names).toEqual(expect.arrayContaining(['user_script.py']));
    expect(names.some((n) => n.endsWith('experiment_data.csv'))).toBe(true);
    expect(names.some((n) => n.endsWith('container_logs.txt'))).toBe(true);
  });

  it('serves the dashboard and its live data', async () => {
    expect((await fetch(url('web', '/dashboard'))).status).toBe(200);
    const live = await fetch(url('web', '/api/live-data'), { headers: { accept: 'application/json' } });
    expect(live.status).toBe(200);
    const data = await json<{ source: string }>(live);
    expect(['csv', 'hardware']).toContain(data.source);
    expect(JSON.stringify(data)).toContain('co2_ppm');
  });
});
