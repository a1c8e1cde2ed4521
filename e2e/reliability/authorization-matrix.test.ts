// Who may call what: anonymous callers, user A, user B, an admin and an experiment's own process, over every route of
// the node and the hub (with the service token set, as in production) and the web server's experiment routes.
import { spawnSync } from 'node:child_process';
import { bearer, isPublicPath } from '@bioreactor/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../bench/lib/system.js';
import { Browser } from './support/browser.js';
import { fillPath, type InProcessSystem, operationsOf, startInProcess } from './support/in-process.js';

const TOKEN = 'matrix-token-0123456789abcdef';
const ADMIN_PASSWORD = 'matrix-admin-password';
const service = { authorization: bearer(TOKEN) };
const userA = { ...service, 'x-session-id': 'user-a' };
const userB = { ...service, 'x-session-id': 'user-b' };
const admin = { ...service, 'x-session-id': 'lab-admin', 'x-user-role': 'admin' };

const pythonMissing = spawnSync('python3', ['--version']).status !== 0 ? 'python3 is not installed' : null;

/**
 * What the experiment itself tries from inside its run: the node's experiment routes through the hardware API it was
 * given, and the hub and the node's own port without the token (an experiment never holds it).
 */
const PROBE_SCRIPT = `
import json, os, time, urllib.request, urllib.error
def code(url, method="GET"):
    try:
        return urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=5).status
    except urllib.error.HTTPError as e:
        return e.code
    except Exception as e:
        return type(e).__name__
gateway = os.environ["BIOREACTOR_NODE_API_URL"]
print("PROBE " + json.dumps({
    "gateway_state": code(gateway + "/api/v3/state"),
    "gateway_experiments": code(gateway + "/api/experiments"),
    "gateway_stop": code(gateway + "/api/experiments/" + os.environ["EXPERIMENT_ID"] + "/stop", "POST"),
    "hub_queue": code(os.environ["PROBE_HUB"] + "/api/queue/status"),
    "node_experiments": code(os.environ["PROBE_NODE"] + "/api/experiments"),
}), flush=True)
time.sleep(30)
`;

let system: InProcessSystem;
let running = '';
let queued = '';

async function hub(method: string, url: string, headers: Record<string, string>, body?: unknown) {
  return system.hub.inject({
    method: method as 'GET',
    url,
    headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
  });
}

beforeAll(async () => {
  system = await startInProcess({ token: TOKEN, adminPassword: ADMIN_PASSWORD });
  const script = PROBE_SCRIPT.replace('os.environ["PROBE_HUB"]', JSON.stringify(system.hubUrl)).replace(
    'os.environ["PROBE_NODE"]',
    JSON.stringify(system.nodeUrl),
  );
  const submit = async (s: string) => {
    const res = await hub('POST', '/api/experiments/start', userA, { script_content: s, max_duration_s: 60 });
    expect(res.statusCode, res.body).toBe(200);
    return (res.json() as { experiment_id: string }).experiment_id;
  };
  running = await submit(script);
  queued = await submit('print("second")\n');
  await waitFor('the first experiment to run', async () => {
    const res = await hub('GET', `/api/experiments/${running}/status`, userA);
    return (res.json() as { experiment: { status: string } }).experiment.status === 'running';
  });
}, 120_000);

afterAll(async () => {
  if (system) {
    await hub('POST', `/api/experiments/${running}/cancel`, admin);
    await system.close();
  }
});

describe('node and hub without the service token', () => {
  it.each(['node', 'hub'] as const)('%s answers 401 on every route but health and docs', async (name) => {
    const app = system[name];
    const ops = await operationsOf(app);
    let checked = 0;
    for (const op of ops) {
      const url = fillPath(op.path, { id: running, component: 'stirrer', name: 'node' });
      const res = await app.inject({ method: op.method as 'GET', url, headers: { 'x-session-id': 'user-a' } });
      if (isPublicPath(url)) expect(res.statusCode, `${op.method} ${url}`).toBe(200);
      else {
        expect(res.statusCode, `${op.method} ${url}: ${res.body}`).toBe(401);
        expect(res.json().code).toBe('UNAUTHORIZED');
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(10);
    // A wrong token is no better than none.
    const wrong = await app.inject({ url: '/api/queue/status', headers: { authorization: bearer('x'.repeat(32)) } });
    expect(wrong.statusCode).toBe(401);
  });
});

describe('hub: users, owners and the admin', () => {
  const ownerRoutes = [
    ['GET', () => `/api/experiments/${running}/logs?tail=5`],
    ['GET', () => `/api/experiments/${running}/download`],
    ['GET', () => `/api/experiments/${running}/data`],
    ['POST', () => `/api/experiments/${running}/cancel`],
    ['POST', () => `/api/experiments/${queued}/pause`],
    ['POST', () => `/api/experiments/${queued}/resume`],
    // A user reorders their own experiments among the places they hold (docs/queue.md); never another's.
    ['POST', () => `/api/experiments/${queued}/reorder?new_position=0`],
  ] as const;
  const adminRoutes = [
    ['POST', () => `/api/experiments/${queued}/run-now`, undefined],
    ['GET', () => '/api/queue/export', undefined],
    ['POST', () => '/api/queue/import', { experiments: {} }],
    ['POST', () => '/api/nodes', { name: 'extra', url: 'http://127.0.0.1:1' }],
    ['DELETE', () => '/api/nodes/extra', undefined],
    ['POST', () => '/api/users/transfer', { from_user: 'user-a', to_user: 'user-b' }],
  ] as const;

  it('another user may not act on or read the output of an experiment (403)', async () => {
    for (const [method, url] of ownerRoutes) {
      const res = await hub(method, url(), userB);
      expect(res.statusCode, `${method} ${url()}: ${res.body}`).toBe(403);
      expect(res.json().code).toBe('FORBIDDEN');
    }
    const status = (await hub('GET', `/api/experiments/${running}/status`, userA)).json().experiment.status;
    expect(status).toBe('running');
    const own = await hub('POST', `/api/experiments/${queued}/reorder?new_position=0`, userA);
    expect(own.statusCode, own.body).toBe(200);
  });

  it('users may not use the admin routes; the admin may', async () => {
    for (const who of [userA, userB]) {
      for (const [method, url, body] of adminRoutes) {
        const res = await hub(method, url(), who, body);
        expect(res.statusCode, `${method} ${url()} as ${who['x-session-id']}: ${res.body}`).toBe(403);
      }
    }
    const reorder = await hub('POST', `/api/experiments/${queued}/reorder?new_position=0`, admin);
    expect(reorder.statusCode, reorder.body).toBe(200);
    expect((await hub('GET', '/api/queue/export', admin)).statusCode).toBe(200);
  });

  it('the owner and the admin may read and act; a user sees only their own experiments', async () => {
    expect((await hub('GET', `/api/experiments/${running}/logs?tail=5`, userA)).statusCode).toBe(200);
    expect((await hub('GET', `/api/experiments/${running}/logs?tail=5`, admin)).statusCode).toBe(200);
    expect((await hub('POST', `/api/experiments/${queued}/pause`, userA)).statusCode).toBe(200);
    expect((await hub('POST', `/api/experiments/${queued}/resume`, admin)).statusCode).toBe(200);
    const mineB = (await hub('GET', '/api/experiments/user', userB)).json() as { experiments: unknown[] };
    expect(mineB.experiments).toEqual([]);
    const queue = (await hub('GET', '/api/queue/status', userB)).body;
    // Another user's session id is a credential in the guide's model: never shown to B.
    expect(queue).not.toContain('user-a');
  });
});

describe.skipIf(pythonMissing !== null)('an experiment process', () => {
  it('reaches the hardware API only: not the experiment routes, the hub or the node without the token', async () => {
    let probe: Record<string, unknown> | undefined;
    await waitFor('the probe script to report', async () => {
      const res = await hub('GET', `/api/experiments/${running}/logs?tail=50`, userA);
      const line = (res.json() as { logs: string }).logs.split('\n').find((l) => l.startsWith('PROBE '));
      if (line) probe = JSON.parse(line.slice(6)) as Record<string, unknown>;
      return probe !== undefined;
    });
    expect(probe?.gateway_state).toBe(200);
    expect(probe?.gateway_experiments).toBe(404);
    expect(probe?.gateway_stop).toBe(404);
    expect(probe?.hub_queue).toBe(401);
    expect(probe?.node_experiments).toBe(401);
  });
});

describe('web server: browsers, accounts and the admin', () => {
  it('a browser sees and acts on its own experiments only; admin routes need the admin account', async () => {
    const a = await new Browser(system.web).open();
    const b = await new Browser(system.web).open();
    const adminBrowser = await new Browser(system.web).open();
    const login = await adminBrowser.request('POST', '/api/account/login', {
      username: 'admin',
      password: ADMIN_PASSWORD,
    });
    expect(login.statusCode, login.body).toBe(200);
    const upload = await a.request('POST', '/api/experiments/upload', { script_content: 'print("web")\n' });
    expect(upload.statusCode, upload.body).toBe(200);
    const id = (upload.json() as { experiment_id: string }).experiment_id;

    expect((await a.request('GET', `/api/experiments/${id}`)).statusCode).toBe(200);
    for (const url of [`/api/experiments/${id}`, `/api/experiments/${id}/logs`, `/experiment/${id}/download`]) {
      const res = await b.request('GET', url);
      // Another browser's experiment does not exist as far as B can tell.
      expect(res.statusCode, `${url}: ${res.body}`).toBe(404);
    }
    expect((await b.request('POST', `/api/experiments/${id}/cancel`)).statusCode).toBe(404);
    expect((await a.request('POST', `/api/experiments/${id}/reorder?new_position=0`)).statusCode).toBe(403);
    expect((await adminBrowser.request('GET', `/api/experiments/${id}`)).statusCode).toBe(200);
    expect((await adminBrowser.request('POST', `/api/experiments/${id}/reorder?new_position=0`)).statusCode).toBe(200);

    // Without the CSRF token a browser's POST is refused, whoever it is.
    const forged = await system.web.inject({
      method: 'POST',
      url: `/api/experiments/${id}/cancel`,
      headers: { origin: 'http://evil.example', host: 'localhost:3000' },
    });
    expect(forged.statusCode).toBe(403);
    expect((await a.request('POST', `/api/experiments/${id}/cancel`)).statusCode).toBe(200);
  });
});
