// The gas relays over emulated GPIO lines on the manual clock: off unless the hardware file enables them; a timed
// dose opens and closes the valve; each relay's limits on dose length and doses per hour refuse with 409; an open
// valve is closed by the node after max_dose_s; the safe state closes every valve; the counters; the twin's gas.
import { afterEach, describe, expect, it } from 'vitest';
import { parseHardwareFile } from '../../src/hardware/hardware-file.js';
import { knownOutputs } from '../../src/hardware/supervisor/index.js';
import { fakeSys } from './fake-sys.js';
import { hardwareNode } from './support.js';

type Node = Awaited<ReturnType<typeof hardwareNode>>;
const nodes: Node[] = [];
afterEach(async () => {
  for (const n of nodes.splice(0)) await n.app.close();
});

const RELAYS = {
  init_components: {
    co2_sensor: true,
    temp_sensor: true,
    stirrer: true,
    pumps: true,
    gas_relays: true,
  },
  gas_relays: {
    relays: {
      co2_valve: { gpio: 5, gas: 'co2', max_dose_s: 10, max_doses_per_hour: 2 },
      n2_valve: { gpio: 6, gas: 'n2', active_low: true, flow_ml_per_min: 100 },
    },
  },
};

async function node(file: Record<string, unknown> = RELAYS): Promise<Node> {
  const n = await hardwareNode({ file });
  nodes.push(n);
  await n.clock.advance(3000);
  return n;
}

const post = (n: Node, body: object) =>
  n.app.inject({ method: 'POST', url: '/api/v3/gas_relays/control', payload: body });
const state = async (n: Node) => (await n.app.inject({ method: 'GET', url: '/api/v3/gas_relays/state' })).json();
const relay = async (n: Node, name: string) => (await state(n)).relays.find((r: { relay: string }) => r.relay === name);
const line = (n: Node, pin: number) => n.hardware.simulation?.gpio.get(pin)?.high;

describe('gas relays', () => {
  it('are off unless the hardware file enables them, and not listed then', async () => {
    const n = await node({});
    const status = (await n.app.inject({ method: 'GET', url: '/api/status' })).json();
    expect(status.initialized_components).not.toHaveProperty('gas_relays');
    expect(status.unavailable_components).not.toHaveProperty('gas_relays');
    const res = await n.app.inject({ method: 'GET', url: '/api/v3/gas_relays/state' });
    expect(res.statusCode).toBe(404);
    expect(res.json().message).toMatch(/init_components\.gas_relays is false/);
  });

  it('a timed dose opens the valve and the node closes it, counted and logged under the command’s source', async () => {
    const n = await node();
    expect(line(n, 5)).toBe(false);
    expect(line(n, 6), 'an active-low valve rests high, closed').toBe(true);
    const res = await post(n, { relay: 'co2_valve', dose_s: 2 });
    expect(res.statusCode).toBe(200);
    expect(res.json().relays[0]).toMatchObject({ relay: 'co2_valve', gas: 'co2', open: true, doses_total: 1 });
    expect(line(n, 5)).toBe(true);
    await n.clock.advance(1000);
    expect((await relay(n, 'co2_valve')).open_s_total).toBeCloseTo(1, 3);
    await n.clock.advance(1500);
    expect(line(n, 5)).toBe(false);
    expect(await relay(n, 'co2_valve')).toMatchObject({
      open: false,
      closes_at: null,
      open_s_total: 2,
      doses_total: 1,
    });
    const log = n.hardware.commandLog().filter((e) => e.component === 'gas_relays' && e.source === 'api');
    expect(log.map((e) => e.values)).toEqual([
      expect.objectContaining({ relay: 'co2_valve', open: true, dose_s: 2 }),
      { relay: 'co2_valve', open: false, dose_ended: true },
    ]);
    // The N2 valve on an active-low board: open is low.
    await post(n, { relay: 'n2_valve', open: true });
    expect(line(n, 6)).toBe(false);
    await post(n, { relay: 'n2_valve', open: false });
    expect(line(n, 6)).toBe(true);
  });

  it('refuses a dose past max_dose_s and past max_doses_per_hour with 409, until the hour has passed', async () => {
    const n = await node();
    const long = await post(n, { relay: 'co2_valve', dose_s: 11 });
    expect(long.statusCode).toBe(409);
    expect(long.json()).toMatchObject({ code: 'SAFETY_INTERLOCK' });
    expect(long.json().message).toMatch(/max_dose_s is 10 s/);
    expect((await post(n, { relay: 'co2_valve', dose_s: 1 })).statusCode).toBe(200);
    await n.clock.advance(2000);
    expect((await post(n, { relay: 'co2_valve', dose_s: 1 })).statusCode).toBe(200);
    await n.clock.advance(2000);
    const third = await post(n, { relay: 'co2_valve', dose_s: 1 });
    expect(third.statusCode).toBe(409);
    expect(third.json().message).toMatch(/opened 2 times in the last hour, its max_doses_per_hour/);
    expect(n.hardware.interlocks().some((t) => /Gas relay co2_valve refused/.test(t))).toBe(true);
    expect(line(n, 5)).toBe(false);
    await n.clock.advance(3600_000);
    expect(n.hardware.interlocks()).toEqual([]);
    expect((await post(n, { relay: 'co2_valve', dose_s: 1 })).statusCode).toBe(200);
    const bad = await post(n, { relay: 'co2_valve', open: true, dose_s: 1 });
    expect(bad.statusCode).toBe(400);
    expect((await post(n, { relay: 'o2_valve', open: true })).json().message).toMatch(/co2_valve, n2_valve/);
  });

  it('an open valve is closed by the node after max_dose_s, and the safe state closes every valve', async () => {
    const n = await node();
    await post(n, { relay: 'co2_valve', open: true });
    await n.clock.advance(10_500);
    expect(line(n, 5)).toBe(false);
    const closed = n.hardware.commandLog().find((e) => e.source === 'safety' && e.component === 'gas_relays');
    expect(closed?.values).toMatchObject({ relay: 'co2_valve', open: false });
    await post(n, { relay: 'n2_valve', open: true });
    await post(n, { relay: 'co2_valve', dose_s: 5 });
    expect((await state(n)).active).toBe(true);
    await n.hardware.applySafeState('test');
    expect(line(n, 5)).toBe(false);
    expect(line(n, 6)).toBe(true);
    expect((await state(n)).active).toBe(false);
    expect(n.hardware.counters().gas_relays).toEqual({
      co2_valve: { open_s_total: 10, doses_total: 2 },
      n2_valve: { open_s_total: 0, doses_total: 1 },
    });
  });

  it('the twin: N2 flushes O2 and CO2 out of the headspace, CO2 raises it', async () => {
    const n = await node();
    const model = n.hardware.simulation?.model;
    if (!model) throw new Error('no model');
    const o2 = model.o2Percent;
    await post(n, { relay: 'n2_valve', dose_s: 20 });
    await n.clock.advance(20_000);
    expect(model.o2Percent).toBeLessThan(o2 - 5);
    const co2 = model.co2Ppm;
    await post(n, { relay: 'co2_valve', dose_s: 5 });
    await n.clock.advance(5000);
    expect(model.co2Ppm).toBeGreaterThan(co2 + 10_000);
  });

  it('the output supervisor closes the valves when the node dies (their lines at the closed level)', async () => {
    const sys = fakeSys('6.12');
    const file = parseHardwareFile({ ...RELAYS, init_components: { gas_relays: true }, sysfs_root: sys.root });
    expect(await knownOutputs(file, sys.paths)).toEqual([
      { component: 'gas_relays', kind: 'gpio', path: sys.gpio(5), safe: 0 },
      { component: 'gas_relays', kind: 'gpio', path: sys.gpio(6), safe: 1 },
    ]);
  });
});
