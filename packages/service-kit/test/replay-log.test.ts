// A follower coming back with Last-Event-ID gets exactly what it missed, or nothing when that is not exactly known
// (then it starts afresh): never a replay with a hole in it, never one from another process.
import { describe, expect, it } from 'vitest';
import { ReplayLog } from '../src/sse.js';

function filled(count: number, opts: { maxEvents?: number; maxChars?: number; size?: number } = {}) {
  const log = new ReplayLog<{ event: string; data: string }>({
    maxEvents: opts.maxEvents ?? 100,
    epoch: 'e1',
    ...(opts.maxChars === undefined ? {} : { maxChars: opts.maxChars }),
  });
  for (let i = 1; i <= count; i++) log.append({ event: 'x', data: String(i).padStart(opts.size ?? 1, '0') });
  return log;
}

const seqs = (entries: { seq: number }[] | undefined) => entries?.map((e) => e.seq);

describe('ReplayLog', () => {
  it('numbers events <epoch>-<seq> from 1 and replays exactly those after an id, in order', () => {
    const log = new ReplayLog<{ event: string; data: string }>({ maxEvents: 10, epoch: 'e1' });
    expect(log.lastId).toBe('e1-0');
    expect(log.since('e1-0')).toEqual([]);
    const first = log.append({ event: 'a', data: '{"n":1}' });
    expect(first).toEqual({ event: 'a', data: '{"n":1}', id: 'e1-1', seq: 1 });
    log.append({ event: 'b', data: '{"n":2}' });
    log.append({ event: 'c', data: '{"n":3}' });
    expect(log.lastId).toBe('e1-3');
    expect(log.since('e1-0')?.map((e) => [e.id, e.event, e.data])).toEqual([
      ['e1-1', 'a', '{"n":1}'],
      ['e1-2', 'b', '{"n":2}'],
      ['e1-3', 'c', '{"n":3}'],
    ]);
    expect(seqs(log.since('e1-1'))).toEqual([2, 3]);
    expect(log.since('e1-3')).toEqual([]);
    // Spaces around a query parameter's value do not make it another id.
    expect(seqs(log.since(' e1-2 '))).toEqual([3]);
  });

  it('keeps what is rendered per follower (no data) under the count bound only', () => {
    const log = new ReplayLog<{ data?: string; render: () => string }>({ maxEvents: 2, maxChars: 1, epoch: 'e1' });
    for (let i = 0; i < 3; i++) log.append({ render: () => String(i) });
    expect(log.since('e1-1')?.map((e) => e.render())).toEqual(['1', '2']);
  });

  it('gives undefined for an id of another epoch, even one whose seq is kept', () => {
    const log = filled(5);
    expect(log.since('e2-3')).toBeUndefined();
    expect(log.since('e-3')).toBeUndefined();
    expect(log.since('xe1-3')).toBeUndefined();
    // Two logs made without an epoch get different ones: a new process never takes an old process's ids.
    const a = new ReplayLog<{ data: string }>({ maxEvents: 5 });
    const b = new ReplayLog<{ data: string }>({ maxEvents: 5 });
    a.append({ data: '1' });
    b.append({ data: '1' });
    expect(a.epoch).not.toBe(b.epoch);
    expect(b.since(a.lastId)).toBeUndefined();
    expect(a.since(a.lastId)).toEqual([]);
  });

  it('gives undefined once what followed an id was evicted by count, and replays from the oldest kept', () => {
    const log = filled(10, { maxEvents: 4 });
    // Kept: 7..10. After 6, all of 7..10 is known; after 5, event 6 is gone.
    expect(seqs(log.since('e1-6'))).toEqual([7, 8, 9, 10]);
    expect(log.since('e1-5')).toBeUndefined();
    expect(log.since('e1-0')).toBeUndefined();
    expect(seqs(log.since('e1-9'))).toEqual([10]);
  });

  it('evicts by characters of data too, keeping the newest event whatever its size', () => {
    // Ten characters each, at most 25 kept: two events.
    const log = filled(5, { maxChars: 25, size: 10 });
    expect(seqs(log.since('e1-3'))).toEqual([4, 5]);
    expect(log.since('e1-2')).toBeUndefined();
    const big = filled(3, { maxChars: 25, size: 10 });
    big.append({ event: 'x', data: 'y'.repeat(100) });
    expect(seqs(big.since('e1-3'))).toEqual([4]);
    expect(big.since('e1-2')).toBeUndefined();
    // The next small event pushes the big one out: only it is kept.
    big.append({ event: 'x', data: 'z' });
    expect(seqs(big.since('e1-4'))).toEqual([5]);
    expect(big.since('e1-3')).toBeUndefined();
  });

  it('stays exact over many evictions (the kept array is compacted as it goes)', () => {
    const log = filled(10_000, { maxEvents: 1500 });
    expect(log.lastId).toBe('e1-10000');
    expect(seqs(log.since('e1-8500'))).toEqual(Array.from({ length: 1500 }, (_, i) => 8501 + i));
    expect(log.since('e1-8499')).toBeUndefined();
    expect(seqs(log.since('e1-9998'))).toEqual([9999, 10000]);
  });

  it('gives undefined for an id ahead of the newest', () => {
    const log = filled(3);
    expect(log.since('e1-4')).toBeUndefined();
    expect(log.since('e1-99999999999999999999')).toBeUndefined();
    expect(new ReplayLog<{ data: string }>({ maxEvents: 3, epoch: 'e1' }).since('e1-1')).toBeUndefined();
  });

  it('gives undefined for a missing or malformed id', () => {
    const log = filled(3);
    for (const id of [undefined, '', 'e1', 'e1-', '-2', 'e1-x', 'e1-2.0', 'e1--2', 'e1-1e0', 'e1-0x2', 'e1-2 3'])
      expect(log.since(id), String(id)).toBeUndefined();
  });

  it('refuses bounds and epochs it could not keep', () => {
    expect(() => new ReplayLog({ maxEvents: 0 })).toThrow(RangeError);
    expect(() => new ReplayLog({ maxEvents: 1.5 })).toThrow(RangeError);
    expect(() => new ReplayLog({ maxEvents: 1, epoch: '' })).toThrow(RangeError);
    expect(() => new ReplayLog({ maxEvents: 1, epoch: 'a\nb' })).toThrow(RangeError);
  });
});
