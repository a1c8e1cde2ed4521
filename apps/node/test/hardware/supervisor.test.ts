// The output supervisor on its own (supervisor.mjs run as the node runs it, over a fake /sys): it acts when its
// pipe closes, when the heartbeat stops and on SIGTERM, stays quiet on "stop", and arms, feeds and disarms a
// watchdog; and the start-up step that turns the last run's outputs off.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseHardwareFile } from '../../src/hardware/hardware-file.js';
import {
  type GuardedOutput,
  heartbeatIntervalMs,
  knownOutputs,
  saveKnownOutputs,
  turnOffLastKnownOutputs,
} from '../../src/hardware/supervisor/index.js';
import { type FakeSys, fakeSys } from './fake-sys.js';
import { tempDir } from './support.js';

const SCRIPT = fileURLToPath(new URL('../../src/hardware/supervisor/supervisor.mjs', import.meta.url));

/** The outputs as the node lists them: peltier on channel 1 with DIR on GPIO 20, stirrer on 0, LED on 2. */
function outputsOf(sys: FakeSys): GuardedOutput[] {
  return [
    { component: 'peltier_driver', kind: 'pwm', path: sys.headerPwm(1) },
    { component: 'stirrer', kind: 'pwm', path: sys.headerPwm(0) },
    { component: 'led', kind: 'pwm', path: sys.headerPwm(2) },
    { component: 'peltier_driver', kind: 'gpio', path: sys.gpio(20), safe: 0 },
  ];
}

/** Outputs as a running node leaves them: peltier at 60 %, stirrer at 30 %, LED at 50 %, DIR high (cooling). */
function drive(sys: FakeSys): void {
  for (const [channel, duty] of [
    [0, 300_000],
    [1, 600_000],
    [2, 500_000],
  ] as const) {
    writeFileSync(join(sys.headerPwm(channel), 'period'), '1000000');
    writeFileSync(join(sys.headerPwm(channel), 'duty_cycle'), String(duty));
    writeFileSync(join(sys.headerPwm(channel), 'enable'), '1');
  }
  writeFileSync(join(sys.gpio(20), 'value'), '1');
}

const allOff = (sys: FakeSys) =>
  [0, 1, 2].every((c) => sys.readPwm(c, 'duty_cycle') === '0' && sys.readPwm(c, 'enable') === '0') &&
  readFileSync(join(sys.gpio(20), 'value'), 'utf8') === '0';

interface Running {
  child: ChildProcess;
  stderr: () => string;
  exit: Promise<{ code: number | null; at: number }>;
}

function startSupervisor(config: Record<string, unknown>): Running {
  const child = spawn(process.execPath, [SCRIPT], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exit = new Promise<{ code: number | null; at: number }>((done) =>
    child.once('exit', (code) => done({ code, at: performance.now() })),
  );
  child.stdin?.write(`${JSON.stringify(config)}\n`);
  return { child, stderr: () => stderr, exit };
}

async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe('output supervisor', () => {
  it('turns every output off when its pipe closes without "stop" (the node died), and says what was on', async () => {
    const sys = fakeSys();
    drive(sys);
    const s = startSupervisor({ outputs: outputsOf(sys), timeout_ms: 60_000 });
    s.child.stdin?.write('h\n');
    s.child.stdin?.end();
    const { code } = await within(s.exit, 5000, 'the supervisor exit');
    expect(code).toBe(0);
    expect(allOff(sys)).toBe(true);
    const line = JSON.parse(s.stderr().trim().split('\n').at(-1) as string) as Record<string, unknown>;
    expect(line.msg).toMatch(/^the node is gone \(its end of the pipe closed without "stop"\): 4 outputs off/);
    expect(line.wasOn).toEqual([
      `peltier_driver ${sys.headerPwm(1)} (duty_cycle 600000 ns)`,
      `stirrer ${sys.headerPwm(0)} (duty_cycle 300000 ns)`,
      `led ${sys.headerPwm(2)} (duty_cycle 500000 ns)`,
      `peltier_driver ${sys.gpio(20)} (value 1)`,
    ]);
  });

  it('exits without writing anything on "stop" (the node shut down cleanly)', async () => {
    const sys = fakeSys();
    drive(sys);
    const s = startSupervisor({ outputs: outputsOf(sys), timeout_ms: 60_000 });
    s.child.stdin?.end('stop\n');
    expect((await within(s.exit, 5000, 'the supervisor exit')).code).toBe(0);
    expect(sys.readPwm(1, 'duty_cycle')).toBe('600000');
    expect(s.stderr()).toBe('');
  });

  it('acts once heartbeats stop for longer than the bound, not while they come', async () => {
    const sys = fakeSys();
    drive(sys);
    const timeout = 600;
    const s = startSupervisor({ outputs: outputsOf(sys), timeout_ms: timeout });
    // Beats for three bounds: nothing happens.
    const beat = setInterval(() => s.child.stdin?.write('h\n'), heartbeatIntervalMs(timeout));
    await new Promise((r) => setTimeout(r, 3 * timeout));
    clearInterval(beat);
    const silentFrom = performance.now();
    expect(sys.readPwm(1, 'duty_cycle')).toBe('600000');
    const { at } = await within(s.exit, 5000, 'the supervisor acting');
    expect(allOff(sys)).toBe(true);
    // The last beat was at most one interval before silentFrom; the check runs every timeout/5.
    expect(at - silentFrom).toBeGreaterThanOrEqual(timeout - heartbeatIntervalMs(timeout));
    expect(at - silentFrom).toBeLessThan(timeout + 1000);
    expect(s.stderr()).toMatch(/no heartbeat from the node for \d+ ms \(bound 600 ms\)/);
    s.child.stdin?.destroy();
  });

  it('acts on SIGTERM, and removes its pid file', async () => {
    const sys = fakeSys();
    drive(sys);
    const pidFile = join(tempDir(), 'supervisor.pid');
    const s = startSupervisor({ outputs: outputsOf(sys), timeout_ms: 60_000, pid_file: pidFile });
    // The pid file is written once the configuration is read, after the signal handlers are installed.
    await within(
      (async () => {
        while (!existsSync(pidFile)) await new Promise((r) => setTimeout(r, 10));
      })(),
      5000,
      'the pid file',
    );
    expect(readFileSync(pidFile, 'utf8').trim()).toBe(String(s.child.pid));
    s.child.kill('SIGTERM');
    await within(s.exit, 5000, 'the supervisor exit');
    expect(allOff(sys)).toBe(true);
    expect(s.stderr()).toMatch(/received SIGTERM: 4 outputs off/);
    expect(existsSync(pidFile)).toBe(false);
  });

  it('feeds a configured watchdog, disarms it ("V") when it exits, and leaves it armed when an output could not be turned off', async () => {
    const sys = fakeSys();
    const watchdog = join(tempDir(), 'watchdog');
    writeFileSync(watchdog, '');
    const s = startSupervisor({ outputs: outputsOf(sys), timeout_ms: 500, watchdog_device: watchdog });
    const beat = setInterval(() => s.child.stdin?.write('h\n'), 80);
    await new Promise((r) => setTimeout(r, 600));
    clearInterval(beat);
    s.child.stdin?.end('stop\n');
    await within(s.exit, 5000, 'the supervisor exit');
    const fed = readFileSync(watchdog, 'utf8');
    expect(fed).toMatch(/^\.{3,}V$/);

    // duty_cycle and enable that cannot be written: the output may still be on, so the watchdog stays armed.
    const broken = fakeSys();
    drive(broken);
    for (const f of ['duty_cycle', 'enable']) {
      rmSync(join(broken.headerPwm(1), f));
      mkdirSync(join(broken.headerPwm(1), f));
    }
    writeFileSync(join(broken.headerPwm(1), 'duty_cycle', 'x'), '');
    const second = join(tempDir(), 'watchdog');
    writeFileSync(second, '');
    const t = startSupervisor({ outputs: outputsOf(broken), timeout_ms: 60_000, watchdog_device: second });
    await new Promise((r) => setTimeout(r, 200));
    t.child.stdin?.end();
    expect((await within(t.exit, 5000, 'the supervisor exit')).code).toBe(1);
    expect(readFileSync(second, 'utf8')).not.toContain('V');
    expect(t.stderr()).toMatch(/FAILED: .*duty_cycle.*leaving the hardware watchdog armed/s);
    expect(broken.readPwm(0, 'duty_cycle')).toBe('0');
  });

  it('without a watchdog device it says so and carries on guarding', async () => {
    const sys = fakeSys();
    drive(sys);
    const s = startSupervisor({
      outputs: outputsOf(sys),
      timeout_ms: 60_000,
      watchdog_device: '/nonexistent/watchdog',
    });
    await new Promise((r) => setTimeout(r, 200));
    s.child.stdin?.end();
    await within(s.exit, 5000, 'the supervisor exit');
    expect(s.stderr()).toMatch(/cannot open the hardware watchdog \/nonexistent\/watchdog .*running without it/);
    expect(allOff(sys)).toBe(true);
  });
});

describe('the outputs a start turns off first', () => {
  it('lists the PWM channels and the direction line of the enabled actuators, found on the Pi 5 layout', async () => {
    const sys = fakeSys('6.12');
    const file = parseHardwareFile({
      init_components: { peltier_driver: true, stirrer: true, led: false },
      sysfs_root: sys.root,
    });
    expect(await knownOutputs(file, sys.paths)).toEqual([
      { component: 'peltier_driver', kind: 'pwm', path: sys.headerPwm(1) },
      { component: 'stirrer', kind: 'pwm', path: sys.headerPwm(0) },
      { component: 'peltier_driver', kind: 'gpio', path: sys.gpio(20), safe: 0 },
    ]);
  });

  it('turns the saved list off, and does nothing without one', () => {
    const sys = fakeSys();
    const dataDir = tempDir();
    expect(turnOffLastKnownOutputs(dataDir)).toBeNull();
    saveKnownOutputs(dataDir, outputsOf(sys));
    drive(sys);
    const report = turnOffLastKnownOutputs(dataDir);
    expect(allOff(sys)).toBe(true);
    expect(report?.wasOn).toHaveLength(4);
    expect(report?.failed).toEqual([]);
    // A second time finds nothing on.
    expect(turnOffLastKnownOutputs(dataDir)?.wasOn).toEqual([]);
  });
});
