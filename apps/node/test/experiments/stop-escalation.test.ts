// A run whose stop never completes (an engine that does not finish `docker stop`, a container that outlives its
// SIGKILL) must still end on record, so the node and the queue behind it move on.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { HardwareGateway } from '../../src/experiments/hardware-gateway.js';
import { afterMonotonic, ExperimentManager, runElapsedMs } from '../../src/experiments/manager.js';
import { ExperimentStore } from '../../src/experiments/store.js';
import type { ExperimentRunner, RunExit, RunHandle, RunnerInfoBody } from '../../src/runner/runner.js';
import { RecordingHardware, tempDataDir } from './helpers.js';

/** A runner whose stop() never returns; `removalEnds` says whether a forced removal ends the process. */
class StuckRunner implements ExperimentRunner {
  readonly kind = 'local' as const;
  readonly endpoint = 'tcp' as const;
  stops = 0;
  releases = 0;
  constructor(private readonly removalEnds: boolean) {}
  info(): RunnerInfoBody {
    return { kind: 'local', available: true, detail: 'stuck test runner' };
  }
  async probe(): Promise<RunnerInfoBody> {
    return this.info();
  }
  async image(): Promise<{ image: string | null; digest: string | null }> {
    return { image: null, digest: null };
  }
  async start(): Promise<RunHandle> {
    let end: (exit: RunExit) => void = () => {};
    const exited = new Promise<RunExit>((resolve) => {
      end = resolve;
    });
    return {
      ref: 'stuck',
      // One line of output, ending with the process.
      output: (async function* () {
        yield { data: Buffer.from('started\n') };
        await exited;
      })(),
      wait: () => exited,
      stop: () => {
        this.stops += 1;
        return new Promise<void>(() => {});
      },
      release: async () => {
        this.releases += 1;
        if (this.removalEnds) end({ exitCode: 137, oomKilled: false });
      },
    };
  }
  async reattach(): Promise<RunHandle | null> {
    return null;
  }
}

const managers: ExperimentManager[] = [];
afterEach(async () => {
  for (const m of managers.splice(0)) {
    const id = m.activeExperimentId();
    if (id) await m.stop(id);
  }
});

async function manager(runner: StuckRunner, hardware: RecordingHardware): Promise<ExperimentManager> {
  const dataDir = tempDataDir();
  const gateway: HardwareGateway = { endpoint: { kind: 'tcp', url: 'http://127.0.0.1:9' }, close: async () => {} };
  const m = new ExperimentManager({
    store: new ExperimentStore(dataDir),
    runner,
    openGateway: async () => gateway,
    hardware,
    dataDir,
    nodeVersion: 'test',
    hardwareMode: 'simulation',
    limits: { memory_bytes: 1 << 26, cpus: 1, pids: 64, output_bytes: 1 << 20, log_bytes: 1 << 20 },
    maxDurationS: 60,
    stopGraceMs: 0,
    stopEscalationMs: 100,
    log: { info() {}, warn() {}, error() {} },
  });
  await m.recover();
  managers.push(m);
  return m;
}

describe('a run whose stop never completes', () => {
  it('is removed by force at its maximum duration and recorded timed_out, and the next run starts', async () => {
    const runner = new StuckRunner(true);
    const hardware = new RecordingHardware();
    const m = await manager(runner, hardware);
    const run = await m.start({ script_content: 'pass', max_duration_s: 1 });
    const end = await m.settled(run.experiment_id);
    expect(end).toMatchObject({ status: 'timed_out', exit_code: 137 });
    expect(end.error_message).toMatch(/maximum duration of 1 s/);
    expect(runner.stops).toBe(1);
    expect(runner.releases).toBeGreaterThanOrEqual(1);
    expect(hardware.safeStates).toHaveLength(1);
    expect(m.activeExperimentId()).toBeNull();
    const next = await m.start({ script_content: 'pass' });
    expect(next.status).toBe('running');
  });

  it('ends on record without an exit code when even a forced removal does not end it', async () => {
    const runner = new StuckRunner(false);
    const hardware = new RecordingHardware();
    const m = await manager(runner, hardware);
    const run = await m.start({ script_content: 'pass' });
    const { record } = await m.stop(run.experiment_id);
    expect(record).toMatchObject({ status: 'stopped', exit_code: null });
    expect(record.error_message).toMatch(/removed by force/);
    expect(hardware.safeStates).toHaveLength(1);
    expect(m.activeExperimentId()).toBeNull();
  });
});

describe('timing a run of weeks', () => {
  it('fires after 30 days on the monotonic clock, not at once (setTimeout overflows past 24.8 days)', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    try {
      const timers: NodeJS.Timeout[] = [];
      let fired = 0;
      afterMonotonic(30 * 86_400_000, timers, () => {
        fired += 1;
      });
      vi.advanceTimersByTime(1000);
      expect(fired).toBe(0);
      vi.advanceTimersByTime(29 * 86_400_000 - 1000);
      expect(fired).toBe(0);
      vi.advanceTimersByTime(86_400_000);
      expect(fired).toBe(1);
      // Clearing every timer it pushed cancels one that has not fired.
      const other: NodeJS.Timeout[] = [];
      afterMonotonic(40 * 86_400_000, other, () => {
        fired += 1;
      });
      vi.advanceTimersByTime(26 * 86_400_000);
      for (const t of other) clearTimeout(t);
      vi.advanceTimersByTime(20 * 86_400_000);
      expect(fired).toBe(1);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('a re-attached run after a wall-clock step', () => {
  const run = {
    start_time: '2026-11-30T08:00:00.000Z',
    created_time: '2026-11-30T07:59:59.000Z',
    start_monotonic: { ns: String(5_000_000_000_000n), boot_id: 'boot-a' },
  };
  const tenSecondsLater = 5_000_000_000_000n + 10_000_000_000n;

  it('counts its time on the monotonic clock when the wall clock stepped forward 48 h (same boot)', () => {
    const stepped = Date.parse('2026-12-02T08:00:10.000Z');
    expect(runElapsedMs(run, stepped, tenSecondsLater, 'boot-a')).toEqual({ ms: 10_000, clockStepMs: 48 * 3600_000 });
    const back = Date.parse('2026-11-28T08:00:10.000Z');
    expect(runElapsedMs(run, back, tenSecondsLater, 'boot-a').ms).toBe(10_000);
  });

  it('falls back to the wall clock after a reboot, or for a run recorded without a monotonic start', () => {
    const now = Date.parse('2026-11-30T08:05:00.000Z');
    expect(runElapsedMs(run, now, 1n, 'boot-b')).toEqual({ ms: 300_000, clockStepMs: null });
    expect(runElapsedMs({ ...run, start_monotonic: null }, now, tenSecondsLater, 'boot-a').ms).toBe(300_000);
  });
});
