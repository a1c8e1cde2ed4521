// The sign-in limits on their own, with a clock the tests move: per client and name, per client, per name.
import { describe, expect, it } from 'vitest';
import { clientKey, describeWait, MAX_ENTRIES, SignInLimiter } from '../src/identity/sign-in-limiter.js';

const S = 1000;
const MIN = 60 * S;

function limiter() {
  const clock = { now: 1_700_000_000_000 };
  return { clock, limiter: new SignInLimiter(() => clock.now) };
}

/** Fails as soon as allowed, moving the clock past each wait; returns the waits seen before each failure. */
function failAsAllowed(l: SignInLimiter, clock: { now: number }, client: string, name: string, times: number) {
  const waits: number[] = [];
  for (let i = 0; i < times; i++) {
    const wait = l.check(client, name);
    waits.push(wait?.waitMs ?? 0);
    clock.now += wait?.waitMs ?? 0;
    l.failed(client, name);
  }
  return waits;
}

describe('sign-in limiter', () => {
  it('delays one client guessing one name from the third failure, doubling up to 15 minutes', () => {
    const { clock, limiter: l } = limiter();
    const waits = failAsAllowed(l, clock, '198.51.100.7', 'Admin', 16);
    expect(waits.slice(0, 4)).toEqual([0, 0, 0, 1 * S]);
    expect(waits.slice(4, 8)).toEqual([2 * S, 4 * S, 8 * S, 16 * S]);
    expect(l.check('198.51.100.7', 'admin')).toMatchObject({ scope: 'client-name', waitMs: 15 * MIN });
    // The same name from another client is not held: the real admin signs in from elsewhere.
    expect(l.check('203.0.113.9', 'admin')).toBeUndefined();
    // Forgotten 24 hours after the last failure.
    clock.now += 24 * 60 * MIN;
    expect(l.check('198.51.100.7', 'admin')).toBeUndefined();
  });

  it('delays one client guessing many names after ten failures within an hour, doubling', () => {
    const { clock, limiter: l } = limiter();
    for (let i = 0; i < 10; i++) {
      expect(l.check('198.51.100.7', `user${i}`)).toBeUndefined();
      l.failed('198.51.100.7', `user${i}`);
    }
    expect(l.check('198.51.100.7', 'user10')).toMatchObject({ scope: 'client', waitMs: 1 * S });
    const waits = failAsAllowed(l, clock, '198.51.100.7', 'user10', 1);
    waits.push(...failAsAllowed(l, clock, '198.51.100.7', 'user11', 1));
    waits.push(...failAsAllowed(l, clock, '198.51.100.7', 'user12', 1));
    expect(waits).toEqual([1 * S, 2 * S, 4 * S]);
    expect(l.check('198.51.100.7', 'user13')?.waitMs).toBe(8 * S);
    // Signing in to one's own account in between does not reset it.
    const at = l.failed('198.51.100.7', 'mine');
    l.succeeded('198.51.100.7', 'mine', at);
    expect(l.check('198.51.100.7', 'user13')?.waitMs).toBe(8 * S);
    // Other clients are not held.
    expect(l.check('203.0.113.9', 'user13')).toBeUndefined();
    // An hour after its failures they no longer count.
    clock.now += 60 * MIN;
    expect(l.check('198.51.100.7', 'user13')).toBeUndefined();
  });

  it('slows guesses at one name from many clients by at most 30 s, and not for a client that signed in to it', () => {
    const { clock, limiter: l } = limiter();
    // The real user signs in from the lab computer once.
    l.succeeded('192.0.2.10', 'ada', l.failed('192.0.2.10', 'ada'));
    for (let i = 0; i < 10; i++) l.failed(`198.51.100.${i}`, 'ada');
    expect(l.check('198.51.100.200', 'ada')).toMatchObject({ scope: 'name', waitMs: 1 * S });
    let worst = 0;
    for (let i = 10; i < 40; i++) {
      const waits = failAsAllowed(l, clock, `198.51.100.${i}`, 'ada', 1);
      worst = Math.max(worst, ...waits);
    }
    expect(worst).toBe(30 * S);
    expect(l.check('198.51.100.250', 'ADA')?.waitMs).toBe(30 * S);
    // The client the user signed in from before is not held by the name's limit.
    expect(l.check('192.0.2.10', 'ada')).toBeUndefined();
    // A success resets the name's count.
    l.succeeded('192.0.2.10', 'ada', l.failed('192.0.2.10', 'ada'));
    expect(l.check('198.51.100.250', 'ada')).toBeUndefined();
  });

  it('takes back a failure counted for an attempt that checked no password', () => {
    const { limiter: l } = limiter();
    for (let i = 0; i < 3; i++) l.withdraw('198.51.100.7', 'ada', l.failed('198.51.100.7', 'ada'));
    expect(l.check('198.51.100.7', 'ada')).toBeUndefined();
  });

  it('keeps its memory bounded however many clients and names fail', () => {
    const { clock, limiter: l } = limiter();
    for (let i = 0; i < 3 * MAX_ENTRIES; i++) {
      l.failed(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, `name${i}`);
      clock.now += 1;
    }
    expect(l.entries).toBeLessThanOrEqual(3 * MAX_ENTRIES);
    // The newest are still held.
    const last = 3 * MAX_ENTRIES - 1;
    l.failed(`10.${(last >> 16) & 255}.${(last >> 8) & 255}.${last & 255}`, `name${last}`);
    l.failed(`10.${(last >> 16) & 255}.${(last >> 8) & 255}.${last & 255}`, `name${last}`);
    expect(l.check(`10.${(last >> 16) & 255}.${(last >> 8) & 255}.${last & 255}`, `name${last}`)?.scope).toBe(
      'client-name',
    );
  });

  it('counts an IPv6 client by its /64 and an IPv4-mapped address as IPv4', () => {
    expect(clientKey('2001:db8:1:2:aaaa::1')).toBe(clientKey('2001:db8:1:2:bbbb:cccc:dddd:2'));
    expect(clientKey('2001:db8:1:2::1')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8:1:3::1')).not.toBe(clientKey('2001:db8:1:2::1'));
    expect(clientKey('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(clientKey('::1')).toBe('0:0:0:0::/64');
    expect(clientKey('192.0.2.1')).toBe('192.0.2.1');
  });

  it('says how long to wait in words', () => {
    expect(describeWait(1)).toBe('1 second');
    expect(describeWait(45 * S)).toBe('45 seconds');
    expect(describeWait(128 * S)).toBe('2 minutes 8 seconds');
    expect(describeWait(15 * MIN)).toBe('15 minutes');
  });
});
