// POST /api/programs/preview: a program checked without queueing it, against a real node process (simulated
// hardware): its timeline from the node, a value the node's components refuse and a shape the hub refuses both
// answered as problems at their paths under `program` (an editor asks as the user types), and no node online said so.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeHub, type TestHub, waitFor } from './support/hub.js';
import { freePort, type HubProcess, startNodeProcess } from './support/hub-process.js';

const YAML = `name: stir
tracks:
  - component: stirrer
    steps:
      - { duration: 1h, set: { duty_cycle: 40 } }
      - { duration: 1h, set: { duty_cycle: DUTY } }
limits: { duration: 2h }
`;

describe('program preview through the hub', () => {
  let node: HubProcess;
  let h: TestHub;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hub-preview-'));
    node = await startNodeProcess(join(dir, 'node'), await freePort());
    h = await makeHub({ nodes: [node.url], dir: join(dir, 'hub') });
    await waitFor(h.hub, () => h.hub.registry.onlineNames().length > 0, 'the node online', 30_000);
  }, 60_000);

  afterAll(async () => {
    await h?.close();
    node?.proc.kill('SIGTERM');
    await node?.exited;
    rmSync(dir, { recursive: true, force: true });
  });

  const preview = (program: unknown, query = '') =>
    h.app.inject({
      method: 'POST',
      url: `/api/programs/preview${query}`,
      headers: { 'x-session-id': 'alice' },
      payload: { program },
    });

  it('answers the node’s timeline of a YAML program', async () => {
    const r = await preview(YAML.replace('DUTY', '60'), '?hours=24');
    expect(r.statusCode, r.body).toBe(200);
    const body = r.json();
    expect(body.valid).toBe(true);
    expect(body.node).toBe(h.hub.registry.onlineNames()[0]);
    expect(body.timeline.end_s).toBe(7200);
    expect(body.timeline.changes.map((c: { at_s: number; set: unknown }) => [c.at_s, c.set])).toEqual([
      [0, { duty_cycle: 40 }],
      [3600, { duty_cycle: 60 }],
    ]);
  });

  it('lists what the node refuses and what the hub refuses at their paths under program, with 200', async () => {
    const refused = await preview(YAML.replace('DUTY', '150'));
    expect(refused.statusCode, refused.body).toBe(200);
    expect(refused.json()).toMatchObject({ valid: false, timeline: null });
    expect(refused.json().problems.map((p: { field: string }) => p.field)).toEqual([
      'program.tracks[0].steps[1].set.duty_cycle',
    ]);
    const shape = await preview({ name: 'x', tracks: [{ component: 'stirrer', steps: [{ set: {} }] }] });
    expect(shape.statusCode, shape.body).toBe(200);
    expect(shape.json().valid).toBe(false);
    expect(shape.json().node).toBeNull();
    expect(shape.json().problems.some((p: { field: string }) => p.field.startsWith('program.tracks[0].steps[0]'))).toBe(
      true,
    );
    const yaml = await preview('name: [unclosed');
    expect(yaml.json().problems[0]).toMatchObject({ field: 'program', line: 1 });
  });

  it('refuses a node that is not among the hub’s', async () => {
    const r = await preview(YAML.replace('DUTY', '60'), '?node=nowhere');
    expect(r.statusCode).toBe(404);
    expect(r.json().code).toBe('NODE_NOT_FOUND');
  });

  it('says when no node is online to check the components (the shape is still checked)', async () => {
    node.proc.kill('SIGTERM');
    await node.exited;
    await waitFor(h.hub, () => h.hub.registry.onlineNames().length === 0, 'the node offline', 30_000);
    const r = await preview(YAML.replace('DUTY', '60'));
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json()).toMatchObject({ valid: true, node: null, timeline: null });
    expect(r.json().message).toMatch(/no node is online/);
  });
});
