// The node as a process of its own (node --import tsx apps/node/src/server.ts), in real mode over a fake Pi 5 /sys:
// killed with SIGKILL (alone, or its whole process group) or stopped with SIGSTOP while the peltier heats, the fake
// duty_cycle must read 0 within the bound; and a start with a typo in the hardware file must turn off what the last
// run left on before it refuses to start. docs/hardware.md, "When the node dies".
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { type FakeSys, fakeSys } from './fake-sys.js';
import { tempDir } from './support.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
/** The peltier's PWM: GPIO 13 is RP1 PWM0 channel 1; its direction line is GPIO 20. */
const PELTIER_CHANNEL = 1;

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}

/** Polls a condition every few milliseconds until it holds; answers the time it took, or fails at the deadline. */
export async function until(what: string, check: () => boolean, deadlineMs: number): Promise<number> {
  const start = performance.now();
  for (;;) {
    if (check()) return performance.now() - start;
    if (performance.now() - start > deadlineMs) throw new Error(`${what}: not within ${deadlineMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface NodeProcess {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<number | null>;
}

const running: NodeProcess[] = [];
const supervisorsToReap: number[] = [];

afterEach(() => {
  for (const node of running.splice(0)) if (node.child.exitCode === null) node.child.kill('SIGKILL');
  for (const pid of supervisorsToReap.splice(0))
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
});

function hardwareFile(sys: FakeSys, dir: string, extra: Record<string, unknown> = {}): string {
  const path = join(dir, 'config_hardware.json');
  const file = {
    // The DS18B20 of the fake /sys (36.5 °C): heating needs a temperature.
    init_components: { peltier_driver: true, stirrer: true, led: true, temp_sensor: true },
    sysfs_root: sys.root,
    dev_root: sys.dev,
    ...extra,
  };
  writeFileSync(path, JSON.stringify(file, null, 2));
  return path;
}

/** Starts the node; with `listen` false, waits for it to exit instead (a refused start). */
async function startNode(
  dataDir: string,
  configPath: string,
  env: Record<string, string> = {},
  listen = true,
): Promise<NodeProcess> {
  const port = await freePort();
  // detached: the node leads a process group of its own, so the test can signal the whole group.
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'apps/node/src/server.ts')], {
    cwd: ROOT,
    detached: true,
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'INFO',
      HARDWARE_MODE: 'real',
      DATA_DIR: dataDir,
      BIOREACTOR_HARDWARE_CONFIG: configPath,
      BIOREACTOR_RUNNER: 'local',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (d: Buffer) => {
    output += d.toString();
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  const node: NodeProcess = { child, url: `http://127.0.0.1:${port}`, output: () => output, exited };
  running.push(node);
  if (!listen) return node;
  await until(
    'the node to listen',
    () => {
      if (child.exitCode !== null) throw new Error(`the node exited (${child.exitCode}):\n${output}`);
      return output.includes('Server listening at');
    },
    60_000,
  );
  return node;
}

async function control(node: NodeProcess, component: string, body: object): Promise<void> {
  const post = () =>
    fetch(`${node.url}/api/v3/${component}/control`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  let res = await post();
  // Heating waits for the first temperature sample (taken within a second of the start).
  for (let i = 0; res.status === 409 && i < 50; i++) {
    await new Promise((r) => setTimeout(r, 100));
    res = await post();
  }
  expect(res.status, await res.text()).toBe(200);
}

function supervisorPid(dataDir: string): number {
  const pid = Number(readFileSync(join(dataDir, 'hardware', 'supervisor.pid'), 'utf8').trim());
  supervisorsToReap.push(pid);
  return pid;
}

/** A running node with the peltier heating at 60 % and the LED at 40 %. */
async function heatingNode(env: Record<string, string> = {}) {
  const sys = fakeSys('6.12');
  const dataDir = tempDir('bioreactor-node-data-');
  const node = await startNode(dataDir, hardwareFile(sys, dataDir), env);
  await until(
    'the supervisor to write its pid file',
    () => existsSync(join(dataDir, 'hardware', 'supervisor.pid')),
    10_000,
  );
  await control(node, 'peltier_driver', { duty_cycle: 60, direction: 'heat' });
  await control(node, 'led', { power: 40 });
  expect(sys.readPwm(PELTIER_CHANNEL, 'duty_cycle')).toBe('600000');
  expect(sys.readPwm(PELTIER_CHANNEL, 'enable')).toBe('1');
  expect(sys.readPwm(2, 'duty_cycle')).toBe('800000');
  return { sys, dataDir, node, supervisor: supervisorPid(dataDir) };
}

const peltierOff = (sys: FakeSys) =>
  sys.readPwm(PELTIER_CHANNEL, 'duty_cycle') === '0' && sys.readPwm(PELTIER_CHANNEL, 'enable') === '0';

describe('when the node dies, the heater goes off (real mode over a fake Pi 5 /sys)', () => {
  it('kill -9 of the node: the supervisor turns the peltier, stirrer and LED off at once', async () => {
    const { sys, node, dataDir } = await heatingNode();
    node.child.kill('SIGKILL');
    const ms = await until('peltier duty_cycle 0 after kill -9', () => peltierOff(sys), 2000);
    console.info(`kill -9 → peltier duty_cycle 0 in ${ms.toFixed(1)} ms`);
    // The peltier goes first; the stirrer, the LED and the direction line right after.
    await until(
      'stirrer, LED and direction line off',
      () =>
        sys.readPwm(0, 'duty_cycle') === '0' &&
        sys.readPwm(2, 'duty_cycle') === '0' &&
        readFileSync(join(sys.gpio(20), 'value'), 'utf8') === '0',
      2000,
    );
    // It says what it did, in the node's log, and leaves no pid file behind.
    await until('the supervisor to log', () => /the node is gone/.test(node.output()), 2000);
    expect(node.output()).toMatch(/peltier_driver .*pwm1 \(duty_cycle 600000 ns\)/);
    await until('the pid file to go', () => !existsSync(join(dataDir, 'hardware', 'supervisor.pid')), 2000);
  });

  it("kill -9 of the node's whole process group: the supervisor, in a session of its own, survives it and acts", async () => {
    const { sys, node, supervisor } = await heatingNode();
    await control(node, 'peltier_driver', { duty_cycle: 70, direction: 'cool' });
    expect(readFileSync(join(sys.gpio(20), 'value'), 'utf8')).toBe('1');
    process.kill(-(node.child.pid as number), 'SIGKILL');
    await until('peltier duty_cycle 0 after kill -9 of the group', () => peltierOff(sys), 2000);
    await until('the direction line low', () => readFileSync(join(sys.gpio(20), 'value'), 'utf8') === '0', 2000);
    await until('the supervisor to exit', () => !alive(supervisor), 2000);
  });

  it('a hung node (SIGSTOP): the supervisor acts after the heartbeat bound; the node, resumed, exits to restart clean', async () => {
    const bound = 1500;
    const { sys, node, supervisor } = await heatingNode({ BIOREACTOR_HEARTBEAT_TIMEOUT_MS: String(bound) });
    node.child.kill('SIGSTOP');
    const stoppedAt = performance.now();
    // Nothing at half the bound...
    await new Promise((r) => setTimeout(r, bound / 2));
    expect(sys.readPwm(PELTIER_CHANNEL, 'duty_cycle')).toBe('600000');
    // ...and off soon after it.
    await until('peltier duty_cycle 0 after SIGSTOP', () => peltierOff(sys), bound + 2000);
    const ms = performance.now() - stoppedAt;
    console.info(`SIGSTOP → peltier duty_cycle 0 in ${ms.toFixed(0)} ms (bound ${bound} ms)`);
    expect(ms).toBeLessThan(bound + 1000);
    await until('the supervisor to exit', () => !alive(supervisor), 2000);
    node.child.kill('SIGCONT');
    expect(await node.exited).toBe(1);
    expect(node.output()).toMatch(/no heartbeat from the node for \d+ ms \(bound 1500 ms\)/);
    expect(node.output()).toMatch(/the output supervisor .* exited .*exits for a clean restart/);
  });

  it('a start with a typo in the hardware file turns off what the last run left on, then refuses to start', async () => {
    const { sys, node, dataDir, supervisor } = await heatingNode();
    // The worst case: the supervisor is gone first (killed with the node, a crash), so nothing acted.
    process.kill(supervisor, 'SIGKILL');
    node.child.kill('SIGKILL');
    await node.exited;
    await until('the supervisor to be gone', () => !alive(supervisor), 2000);
    expect(sys.readPwm(PELTIER_CHANNEL, 'duty_cycle')).toBe('600000');
    const configPath = hardwareFile(sys, dataDir, { stirer: { pwm_pin: 12, frequency_hz: 1000 } });
    const refused = await startNode(dataDir, configPath, {}, false);
    expect(await refused.exited).not.toBe(0);
    expect(refused.output()).toMatch(/stirer: unknown key \(check its spelling\)/);
    expect(refused.output()).toMatch(/start-up turned off the outputs the last run left on .*peltier_driver/);
    expect(peltierOff(sys)).toBe(true);
    expect(sys.readPwm(2, 'duty_cycle')).toBe('0');
  });

  it('a clean stop (SIGTERM) leaves everything off and the supervisor exits without acting', async () => {
    const { sys, node, supervisor } = await heatingNode();
    node.child.kill('SIGTERM');
    expect(await node.exited).toBe(0);
    expect(peltierOff(sys)).toBe(true);
    await until('the supervisor to exit', () => !alive(supervisor), 2000);
    expect(node.output()).not.toMatch(/the node is gone|no heartbeat/);
  });
});

/** Running, and not a zombie (a supervisor whose parent, the node, is stopped stays one until it is reaped). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
