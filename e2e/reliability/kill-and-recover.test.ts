// Faults a lab meets: a service killed with SIGKILL at a random moment while experiments run (seeded, several
// rounds), and the node unreachable for a while. After each: no experiment lost, every one reaches a final state that
// tells the truth, and the hardware ends safe (peltier off, pumps stopped).
// Long mode (BIOREACTOR_LONG_TESTS=1): 20 kill rounds and a one-minute outage; otherwise 3 rounds and 6 seconds.
import { spawnSync } from 'node:child_process';
import { FINAL_STATES } from '@bioreactor/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { experimentStatus, submit, untilStatus } from '../../bench/lib/hub-client.js';
import { BioreactorSystem, type ServiceProcess, waitFor } from '../../bench/lib/system.js';
import { seededRandom } from './support/random.js';

const LONG = process.env.BIOREACTOR_LONG_TESTS === '1';
const ROUNDS = LONG ? 20 : 3;
const OUTAGE_MS = LONG ? 60_000 : 6_000;
const SEED = Number(process.env.BIOREACTOR_FAULT_SEED ?? 9);
const FINAL = FINAL_STATES as readonly string[];
const user = { 'x-session-id': 'fault-user' };

const pythonMissing = spawnSync('python3', ['--version']).status !== 0;
if (pythonMissing) console.warn('kill-and-recover: skipped because python3 is not installed (experiments need it)');
if (!LONG)
  console.info(
    `kill-and-recover: ${ROUNDS} rounds and a ${OUTAGE_MS / 1000} s outage; BIOREACTOR_LONG_TESTS=1 runs 20 rounds and a minute`,
  );

/** Drives the peltier and a pump, writes rows, and ends on its own after about two seconds. */
const SCRIPT = `
import time
from bioreactor_client import Bioreactor, measure_all_data, write_data_to_csv
with Bioreactor() as b:
    b.change_peltier(30, forward=True)
    b.change_pump("inflow", 0.01)
    for i in range(8):
        write_data_to_csv(measure_all_data(b, elapsed=i))
        time.sleep(0.25)
print("finished")
`;

let system: BioreactorSystem;

beforeAll(async () => {
  if (pythonMissing) return;
  system = await new BioreactorSystem({
    // A node silent longer than this is reported lost; its running experiment stays running until the node reports.
    hubEnv: { BIOREACTOR_NODE_LOST_TIMEOUT_S: String(Math.ceil((OUTAGE_MS * 3) / 1000)) },
  }).start();
}, 180_000);

afterAll(async () => {
  await system?.dispose();
});

async function hardwareIsSafe(node: ServiceProcess): Promise<void> {
  // The hub may already have started the next experiment on a node that came back, which drives the peltier itself:
  // the hardware must be safe once no run is active.
  await waitFor(
    'the node to have no active experiment',
    async () =>
      ((await (await fetch(`${node.url}/api/status`)).json()) as { active_experiment: string | null })
        .active_experiment === null,
    60_000,
    100,
  );
  const res = await fetch(`${node.url}/api/v3/state`);
  const { components } = (await res.json()) as {
    components: { peltier_driver?: { active: boolean }; pumps?: { active: boolean } };
  };
  expect(components.peltier_driver?.active, 'peltier still on').toBe(false);
  expect(components.pumps?.active, 'a pump still runs').toBe(false);
}

async function allFinal(ids: string[], timeoutMs = 120_000): Promise<Map<string, string>> {
  const states = new Map<string, string>();
  for (const id of ids) states.set(id, (await untilStatus(system.hub.url, id, FINAL, user, timeoutMs)).status);
  return states;
}

describe.skipIf(pythonMissing)('faults during running experiments', () => {
  it(`SIGKILL of hub, node or web at random moments (${ROUNDS} rounds, seed ${SEED})`, async () => {
    const random = seededRandom(SEED);
    const rounds: { victim: string; ids: string[] }[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const ids = [await submit(system.hub.url, SCRIPT, user), await submit(system.hub.url, SCRIPT, user)];
      const victim = system.all[Math.floor(random() * 3)] as ServiceProcess;
      await untilStatus(system.hub.url, ids[0] as string, ['running', ...FINAL], user);
      // The fault lands at a random point of the first experiment's run (it lasts about two seconds).
      await new Promise((r) => setTimeout(r, Math.floor(random() * 2000)));
      await victim.kill();
      await victim.start();
      rounds.push({ victim: victim.name, ids });
      if (victim.name === 'node') await hardwareIsSafe(system.node);
    }
    const control = await submit(system.hub.url, SCRIPT, user);
    const states = await allFinal([...rounds.flatMap((r) => r.ids), control]);
    const summary = rounds.map((r) => `${r.victim}: ${r.ids.map((id) => states.get(id)).join(', ')}`).join('; ');
    console.info(`kill-and-recover (seed ${SEED}): ${summary}`);
    // No record lost: each experiment is still known to the hub after every restart.
    expect(states.size, summary).toBe(rounds.length * 2 + 1);
    for (const r of rounds) {
      for (const id of r.ids) {
        const state = states.get(id);
        // The web server and the hub are not where experiments run: killing them must not change an outcome.
        if (r.victim !== 'node') expect(state, `${id} after killing ${r.victim} (${summary})`).toBe('completed');
        else expect(['completed', 'interrupted', 'failed'], `${id} (${summary})`).toContain(state);
      }
    }
    expect(states.get(control), summary).toBe('completed');
    await hardwareIsSafe(system.node);
    // The web server still serves its pages' data after all of it.
    expect((await fetch(`${system.web.url}/api/queue`)).status).toBe(200);
  }, 600_000);

  it(`a node unreachable for ${OUTAGE_MS / 1000} s during a run: the hub sees it go and come back, nothing lost`, async () => {
    const first = await submit(system.hub.url, SCRIPT.replace('range(8)', 'range(60)'), user);
    await untilStatus(system.hub.url, first, ['running'], user);
    const child = system.node.child;
    if (!child?.pid) throw new Error('node not running');
    const nodeOnline = async () => {
      const res = await fetch(`${system.hub.url}/api/nodes`);
      return ((await res.json()) as { nodes: { online: boolean }[] }).nodes[0]?.online;
    };
    // SIGSTOP: the process stays, its sockets stay open, nothing answers, as with a network partition.
    process.kill(child.pid, 'SIGSTOP');
    let resumed = false;
    try {
      await waitFor('the hub to mark the node offline', async () => (await nodeOnline()) === false, 30_000, 200);
      const during = await submit(system.hub.url, SCRIPT, user);
      expect((await experimentStatus(system.hub.url, during, user)).status).toBe('queued');
      const outageEnd = Date.now() + OUTAGE_MS;
      await new Promise((r) => setTimeout(r, Math.max(0, outageEnd - Date.now())));
      process.kill(child.pid, 'SIGCONT');
      resumed = true;
      await waitFor('the hub to see the node again', async () => (await nodeOnline()) === true, 30_000, 200);
      const states = await allFinal([first, during]);
      expect(states.get(first)).toBe('completed');
      expect(states.get(during)).toBe('completed');
      await hardwareIsSafe(system.node);
    } finally {
      if (!resumed) process.kill(child.pid, 'SIGCONT');
    }
  }, 600_000);
});
