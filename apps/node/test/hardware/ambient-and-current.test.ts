// The ambient thermometer and the peltier's current sensor in simulation: both off unless the hardware file enables
// them. The ambient DS18B20 reads the room, is left out of temp_sensor's list and of the heating safety; the current
// reads what the peltier draws through its configured channel and scale, and its limit switches the peltier off.
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
  await n.clock.advance(6000);
  return n;
}
const get = (n: Node, url: string) => n.app.inject({ method: 'GET', url });
const post = (n: Node, url: string, payload: object) => n.app.inject({ method: 'POST', url, payload });

describe('ambient thermometer', () => {
  it('reads the room, is not one of the vessel’s thermometers, and its failure does not touch the heating', async () => {
    const n = await node({ init_components: { temp_sensor: true, peltier_driver: true, ambient_temp_sensor: true } });
    const ambient = (await get(n, '/api/v3/ambient_temp_sensor/state')).json();
    expect(ambient).toMatchObject({ status: 'success', unit: 'celsius' });
    expect(ambient.temperature).toBeCloseTo(22, 0);
    const vessel = (await get(n, '/api/v3/temp_sensor/state')).json();
    expect(vessel.temperatures).toHaveLength(2);
    expect((await get(n, '/api/v3/capabilities')).json().temp_sensor.channels).not.toContain('28-0000000000a1');
    expect((await get(n, '/api/v3/state?readings=true')).json().readings.ambient_temperature).toBe(ambient.temperature);

    await post(n, '/api/v3/simulation/faults', { component: 'ambient_temp_sensor', fault: 'crc_error' });
    await n.clock.advance(6000);
    expect((await get(n, '/api/v3/ambient_temp_sensor/state')).json()).toMatchObject({ status: 'error' });
    expect((await get(n, '/api/v3/temp_sensor/state')).json().status).toBe('success');
    const heat = await post(n, '/api/v3/peltier_driver/control', { duty_cycle: 30, direction: 'heat' });
    expect(heat.statusCode).toBe(200);
    expect(n.hardware.interlocks()).toEqual([]);
  });
});

describe('peltier current', () => {
  const CURRENT = {
    init_components: { temp_sensor: true, peltier_driver: true, peltier_current: true },
    // An ACS712-05B on 5 V: 2.5 V at 0 A, 185 mV per A.
    peltier_current: { input: 'A2', offset_v: 2.5, amps_per_volt: 1 / 0.185, gain: 2 / 3, max_current_a: 3 },
  };

  it('reads the current the peltier draws through the configured channel and scale', async () => {
    const n = await node(CURRENT);
    expect((await get(n, '/api/v3/peltier_current/state')).json()).toMatchObject({ status: 'success', unit: 'amps' });
    expect((await get(n, '/api/v3/peltier_current/state')).json().current).toBeCloseTo(0, 1);
    await post(n, '/api/v3/peltier_driver/control', { duty_cycle: 50, direction: 'heat' });
    await n.clock.advance(2000);
    expect((await get(n, '/api/v3/peltier_current/state')).json().current).toBeCloseTo(2, 1);
    const caps = (await get(n, '/api/v3/capabilities')).json().peltier_current;
    expect(caps).toMatchObject({ type: 'sensor', unit: 'amps', input: 'A2', offset_v: 2.5, max_current_a: 3 });
  });

  it('a current above max_current_a switches the peltier off, recorded as safety:over-current', async () => {
    const n = await node(CURRENT);
    await post(n, '/api/v3/peltier_driver/control', { duty_cycle: 40, direction: 'cool' });
    await n.clock.advance(2000);
    expect((await get(n, '/api/v3/peltier_driver/state')).json().duty_cycle).toBe(40);
    await post(n, '/api/v3/peltier_driver/control', { duty_cycle: 90, direction: 'cool' });
    await n.clock.advance(2000);
    expect((await get(n, '/api/v3/peltier_driver/state')).json()).toMatchObject({ duty_cycle: 0, direction: 'cool' });
    const cut = n.hardware.commandLog().find((e) => e.source === 'safety:over-current');
    expect(cut?.values.reason).toMatch(/draws 3\.\d+ A, above peltier_current\.max_current_a \(3 A\)/);
  });
});
