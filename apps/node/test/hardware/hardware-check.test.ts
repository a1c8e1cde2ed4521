// The hardware self-test (apps/node/bin/hardware-check.mjs) run as a user runs it, against a simulated node over
// HTTP: one line per component with its reading, what is off and why, and an exit status that says whether every
// enabled component works.
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { hardwareNode, whileTimePasses } from './support.js';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '../../bin/hardware-check.mjs');
type Node = Awaited<ReturnType<typeof hardwareNode>>;
const nodes: Node[] = [];
afterEach(async () => {
  for (const n of nodes.splice(0)) await n.app.close();
});

async function listening(): Promise<{ n: Node; url: string }> {
  const n = await hardwareNode();
  nodes.push(n);
  await whileTimePasses(n.clock, n.hardware.waitForFirstSamples(), 50);
  await n.app.listen({ host: '127.0.0.1', port: 0 });
  const address = n.app.server.address();
  return { n, url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}` };
}

function check(url: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [SCRIPT, url], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('the hardware self-test', () => {
  it('lists each component with its reading and exits 0 when every enabled one works', async () => {
    const { url } = await listening();
    const run = await check(url);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^node http:\/\/127\.0\.0\.1:\d+: simulation hardware/);
    expect(run.stdout).toMatch(/^ok +co2_sensor +co2_ppm \d+(\.\d+)? \(ppm\)$/m);
    expect(run.stdout).toMatch(
      /^ok +temp_sensor +temperature \d+(\.\d+)?, temperatures 0=\d+\.\d{3} 1=\d+\.\d{3} \(celsius\)$/m,
    );
    expect(run.stdout).toMatch(/^ok +optical_density +voltages 135=\d\.\d{3} Ref=\d\.\d{3} 90=\d\.\d{3}/m);
    expect(run.stdout).toMatch(/^ok +stirrer +duty_cycle/m);
    expect(run.stdout.trimEnd().endsWith('every enabled component works')).toBe(true);
  });

  it('names a failing component with its reason and exits 1; 2 when no node answers', async () => {
    const { n, url } = await listening();
    const fault = await n.app.inject({
      method: 'POST',
      url: '/api/v3/simulation/faults',
      payload: { component: 'co2_sensor', fault: 'bus_error' },
    });
    expect(fault.statusCode).toBe(200);
    const deadline = n.clock.now() + 10_000;
    while ((await n.app.inject({ url: '/api/v3/co2_sensor/state' })).json().status !== 'error') {
      if (n.clock.now() > deadline) throw new Error('the CO2 sensor never failed');
      await n.clock.advance(100);
    }
    const run = await check(url);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^FAIL +co2_sensor +error: .+$/m);
    expect(run.stdout).toMatch(/1 component\(s\) need attention/);
    await n.app.close();
    nodes.splice(0);
    const gone = await check(url);
    expect(gone.code).toBe(2);
    expect(gone.stderr).toMatch(/did not answer/);
  });
});
