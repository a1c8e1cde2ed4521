// Webhook notifications (BIOREACTOR_NOTIFY_URL): every experiment end reaches the receiver once, with a readable
// text and no session id; a receiver that fails is retried; what was not delivered is sent after a hub restart.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { ExperimentEndPayload } from '../src/notifications/webhook.js';
import { FakeNode } from './support/fake-node.js';
import { GOOD_SCRIPT, makeHub, type TestHub, waitForStarted, waitForState } from './support/hub.js';

/** An HTTP endpoint that records each POST and answers with the next status of `answers` (then 200). */
class Receiver {
  readonly received: ExperimentEndPayload[] = [];
  readonly answers: number[] = [];
  attempts = 0;
  private server: Server | undefined;
  url = '';

  async start(port = 0): Promise<this> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString();
      });
      req.on('end', () => {
        this.attempts++;
        const status = this.answers.shift() ?? 200;
        if (status === 200) this.received.push(JSON.parse(body) as ExperimentEndPayload);
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((r) => this.server?.listen(port, '127.0.0.1', () => r()));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }
}

/** Resolves when the hub has recorded an attempt to send the experiment's notification that ended `delivered`. */
function attempted(h: TestHub, experimentId: string, delivered: boolean): Promise<void> {
  return new Promise((resolve) => {
    const notifier = h.hub.notifier;
    if (!notifier) throw new Error('no notifier: BIOREACTOR_NOTIFY_URL is not set');
    const check = (a: { experimentId: string; delivered: boolean }) => {
      if (a.experimentId !== experimentId || a.delivered !== delivered) return;
      notifier.off('attempt', check);
      resolve();
    };
    notifier.on('attempt', check);
    if (delivered && notifier.isDelivered(experimentId)) check({ experimentId, delivered: true });
  });
}

const delivered = (h: TestHub, experimentId: string) => attempted(h, experimentId, true);

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(receiver: Receiver, dir?: string): Promise<{ h: TestHub; node: FakeNode }> {
  const node = new FakeNode();
  await node.start();
  cleanups.push(() => node.stop());
  const h = await makeHub({
    nodes: [node.url],
    env: { BIOREACTOR_NOTIFY_URL: receiver.url, BIOREACTOR_NOTIFY_RETRY_MS: '20' },
    ...(dir ? { dir } : {}),
  });
  cleanups.push(() => h.close());
  return { h, node };
}

async function submit(h: TestHub, user: string, name: string): Promise<string> {
  const r = await h.app.inject({
    method: 'POST',
    url: '/api/experiments/start',
    headers: { 'x-session-id': user },
    payload: { script_content: GOOD_SCRIPT, name },
  });
  expect(r.statusCode, r.body).toBe(200);
  return r.json().experiment_id;
}

describe('webhook notifications', () => {
  it('posts every experiment end once, naming accounts but never a browser session id', async () => {
    const receiver = await new Receiver().start();
    cleanups.push(() => receiver.stop());
    const { h, node } = await setup(receiver);
    const session = '9f1c2d3e-secret-browser-session';
    const ok = await submit(h, 'account-ada', 'growth curve');
    const withdrawn = await submit(h, 'account-ada', 'withdrawn');
    const bad = await submit(h, session, 'broken');
    const both = Promise.all([delivered(h, ok), delivered(h, bad)]);
    await waitForStarted(h.hub, ok);
    // Cancelled while it waited behind the running one: no notification.
    expect((await h.app.inject({ method: 'POST', url: `/api/experiments/${withdrawn}/cancel` })).statusCode).toBe(200);
    node.finish(ok, 'completed', 0);
    await waitForStarted(h.hub, bad);
    node.finish(bad, 'failed', 1, { error_message: 'Exit code 1: ZeroDivisionError' });
    await both;

    const [first, second] = receiver.received;
    expect(first?.event).toBe('experiment.ended');
    expect(first?.experiment).toMatchObject({ experiment_id: ok, owner: 'ada', status: 'completed', exit_code: 0 });
    expect(first?.text).toMatch(/^Experiment 'growth curve' \(\w{8}\) of ada completed after \d+ s on /);
    expect(second?.experiment).toMatchObject({ experiment_id: bad, owner: null, status: 'failed' });
    expect(second?.text).toContain('ZeroDivisionError');
    expect(JSON.stringify(receiver.received)).not.toContain(session);
    expect(h.hub.notifier?.pending()).toBe(0);
    expect(receiver.attempts).toBe(2);
  });

  it('retries a receiver that fails, with growing delays, until it answers', async () => {
    const receiver = await new Receiver().start();
    receiver.answers.push(503, 500);
    cleanups.push(() => receiver.stop());
    const { h, node } = await setup(receiver);
    const id = await submit(h, 'account-grace', 'retry me');
    const sent = delivered(h, id);
    await waitForStarted(h.hub, id);
    node.finish(id, 'completed', 0);
    await sent;
    expect(receiver.attempts).toBe(3);
    expect(receiver.received).toHaveLength(1);
    expect(h.hub.notifier?.pending()).toBe(0);
  });

  it('keeps an undelivered notification across a hub restart and sends it then', async () => {
    const receiver = await new Receiver().start();
    cleanups.push(() => receiver.stop());
    // The receiver refuses everything while the first hub runs.
    receiver.answers.push(...Array.from({ length: 100 }, () => 503));
    const first = await setup(receiver);
    const id = await submit(first.h, 'account-lin', 'across a restart');
    const failed = attempted(first.h, id, false);
    await waitForStarted(first.h.hub, id);
    first.node.finish(id, 'completed', 0);
    await waitForState(first.h.hub, id, 'completed');
    expect(first.h.hub.notifier?.pending()).toBe(1);
    await failed;
    const dir = first.h.dir;
    // The first hub goes away (its cleanup would delete the folder: keep the folder, close the app).
    const health = (await first.h.app.inject({ url: '/health' })).json();
    expect(health.checks.notifications).toMatchObject({ ok: false });
    expect(health.checks.notifications.message).toMatch(
      /1 of 1 waiting after a failed delivery to .* \(last: HTTP 503\)/,
    );
    await first.h.app.close();
    receiver.answers.length = 0;
    const attemptsBefore = receiver.attempts;
    const second = await setup(receiver, dir);
    await delivered(second.h, id);
    expect(receiver.received[0]?.experiment).toMatchObject({ experiment_id: id, status: 'completed' });
    expect(receiver.attempts).toBe(attemptsBefore + 1);
    expect(second.h.hub.notifier?.pending()).toBe(0);
    expect((await second.h.app.inject({ url: '/health' })).json().checks.notifications.ok).toBe(true);
  });
});
