// Notes and labels an owner puts on an experiment, and the lab manager's list of every experiment with search and
// filters, a page at a time.
import { afterEach, describe, expect, it } from 'vitest';
import { GOOD_SCRIPT, makeHub, type TestHub } from './support/hub.js';

let h: TestHub | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const admin = { 'x-session-id': 'lab-manager', 'x-user-role': 'admin' };

describe('notes and labels', () => {
  it('lets the owner (and an admin) set them, shows them to them only, and keeps what is left out', async () => {
    h = await makeHub({ noDispatch: true });
    const t = h;
    const row = t.hub.queue.submit({ userId: 'alice', script: GOOD_SCRIPT, name: 'od', maxDurationS: 60 });
    const annotate = (headers: Record<string, string>, payload: Record<string, unknown>) =>
      t.app.inject({ method: 'POST', url: `/api/experiments/${row.id}/annotations`, headers, payload });
    const set = await annotate(
      { 'x-session-id': 'alice' },
      { notes: ' second inoculum ', labels: ['E. coli', 'E. coli', 'x'] },
    );
    expect(set.statusCode, set.body).toBe(200);
    expect(set.json().experiment).toMatchObject({ notes: 'second inoculum', labels: ['E. coli', 'x'] });
    const labelsOnly = await annotate({ 'x-session-id': 'alice' }, { labels: ['growth'] });
    expect(labelsOnly.json().experiment).toMatchObject({ notes: 'second inoculum', labels: ['growth'] });
    expect((await annotate({ 'x-session-id': 'bob' }, { notes: 'mine now' })).statusCode).toBe(403);
    expect((await annotate({ 'x-session-id': 'alice' }, { labels: ['a,b'] })).statusCode).toBe(400);
    const seenByBob = await t.app.inject({
      method: 'GET',
      url: `/api/experiments/${row.id}/status`,
      headers: { 'x-session-id': 'bob' },
    });
    expect(seenByBob.json().experiment.notes).toBeUndefined();
    expect(seenByBob.json().experiment.labels).toBeUndefined();
    expect((await annotate(admin, { notes: null })).json().experiment.notes).toBeNull();
  });
});

describe('every experiment (admin)', () => {
  it('pages, searches and filters by state, owner and label; a user is refused', async () => {
    h = await makeHub({ noDispatch: true, env: { BIOREACTOR_MAX_ACTIVE_PER_USER: '100' } });
    const t = h;
    for (let i = 0; i < 30; i++)
      t.hub.queue.submit({
        userId: i % 3 === 0 ? 'alice' : 'bob',
        script: GOOD_SCRIPT,
        name: `run ${i}`,
        maxDurationS: 60,
      });
    const third = t.hub.queue.all()[3];
    if (!third) throw new Error('no row');
    t.hub.queue.annotate(third.id, 'odd one', ['special']);
    const list = async (query: string) => {
      const r = await t.app.inject({ method: 'GET', url: `/api/experiments?${query}`, headers: admin });
      expect(r.statusCode, r.body).toBe(200);
      return r.json() as { experiments: { name: string }[]; total: number };
    };
    const first = await list('limit=10');
    expect(first.total).toBe(30);
    expect(first.experiments.map((e) => e.name)).toEqual(Array.from({ length: 10 }, (_, i) => `run ${29 - i}`));
    expect((await list('limit=10&offset=25')).experiments).toHaveLength(5);
    expect((await list('user=alice')).total).toBe(10);
    expect((await list('q=run%202')).total).toBe(11);
    expect((await list('label=SPECIAL')).experiments.map((e) => e.name)).toEqual([third.name]);
    expect((await list('q=odd')).total).toBe(1);
    expect((await list('status=completed')).total).toBe(0);
    expect((await list('q=%25')).total).toBe(0);
    const refused = await t.app.inject({ method: 'GET', url: '/api/experiments', headers: { 'x-session-id': 'bob' } });
    expect(refused.statusCode).toBe(403);
  });
});
