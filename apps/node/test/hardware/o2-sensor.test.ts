// The O2 sensor end to end in simulation: off unless the hardware file enables it; its state, its reading in the
// batched state and the history; the twin (an N2 flush lowers what it reads); a bus error reported, not a crash.
import { afterEach, describe, expect, it } from 'vitest';
import { hardwareNode } from './support.js';

type Node = Awaited<ReturnType<typeof hardwareNode>>;
const nodes: Node[] = [];
afterEach(async () => {
  for (const n of nodes.splice(0)) await n.app.close();
});

async function node(file: Record<string, unknown>): Promise<Node> {
  const n = await hardwareNode({ file });
  nodes.push(n);
  await n.clock.advance(3000);
  return n;
}
const get = (n: Node, url: string) => n.app.inject({ method: 'GET', url });

describe('O2 sensor', () => {
  it('is off by default, and when enabled reads the headspace’s % O2 everywhere its readings row says', async () => {
    const off = await node({});
    expect((await get(off, '/api/v3/o2_sensor/state')).statusCode).toBe(404);
    expect((await get(off, '/api/v3/state?readings=true')).json().readings).not.toHaveProperty('o2_percent');

    const n = await node({
      init_components: { temp_sensor: true, gas_relays: true, o2_sensor: true },
      gas_relays: { relays: { n2_valve: { gpio: 6, gas: 'n2', flow_ml_per_min: 100 } } },
    });
    const state = (await get(n, '/api/v3/o2_sensor/state')).json();
    expect(state).toMatchObject({ status: 'success', unit: 'percent' });
    expect(state.o2_percent).toBeCloseTo(20.95, 0);
    const caps = (await get(n, '/api/v3/capabilities')).json().o2_sensor;
    expect(caps).toMatchObject({ type: 'sensor', driver: 'atlas-ezo-o2', unit: 'percent', i2c_address: '0x6c' });
    const status = (await get(n, '/api/status')).json();
    expect(status.initialized_components.o2_sensor).toBe(true);
    const all = (await get(n, '/api/v3/state?readings=true')).json();
    expect(all.readings.o2_percent).toBe(all.components.o2_sensor.o2_percent);

    // The twin: nitrogen flushes the headspace's oxygen out.
    await n.app.inject({
      method: 'POST',
      url: '/api/v3/gas_relays/control',
      payload: { relay: 'n2_valve', dose_s: 20 },
    });
    await n.clock.advance(25_000);
    expect((await get(n, '/api/v3/o2_sensor/state')).json().o2_percent).toBeLessThan(15);
    const history = (await get(n, '/api/v3/history?component=o2_sensor&limit=100')).json();
    expect(history).toMatchObject({ component: 'o2_sensor', unit: 'percent', channels: ['o2'] });
    expect(history.samples.length).toBeGreaterThan(5);
  });

  it('a bus error is the sensor’s error state, and it recovers when the chip answers again', async () => {
    const n = await node({ init_components: { o2_sensor: true } });
    await n.app.inject({
      method: 'POST',
      url: '/api/v3/simulation/faults',
      payload: { component: 'o2_sensor', fault: 'bus_error' },
    });
    await n.clock.advance(4000);
    expect((await get(n, '/api/v3/o2_sensor/state')).json()).toMatchObject({
      status: 'error',
      o2_percent: expect.any(Number),
    });
    await n.app.inject({ method: 'DELETE', url: '/api/v3/simulation/faults' });
    await n.clock.advance(4000);
    expect((await get(n, '/api/v3/o2_sensor/state')).json().status).toBe('success');
  });
});
