// The sensor history survives restarts: each sensor's 24 h ring is mirrored in DATA_DIR/hardware/history/<name>.bin,
// reloaded at start; a torn record is skipped, a file that is not one is set aside, and the file stays bounded.
// docs/hardware.md, "History".
import { existsSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { COMPONENT_NAMES } from '@bioreactor/api';
import { afterEach, describe, expect, it } from 'vitest';
import { createManualClock } from '../../src/hardware/clock.js';
import type { HardwareController } from '../../src/hardware/hardware.js';
import { HISTORY_FLUSH_MS, type HistoryLog, PersistedHistory } from '../../src/hardware/history.js';
import type { Hardware } from '../../src/hardware/index.js';
import { quietLog, recordingLog, type SimOptions, simulatedHardware, tempDir, whileTimePasses } from './support.js';

type Hw = Hardware & HardwareController;
const started: Hw[] = [];
afterEach(async () => {
  for (const hw of started.splice(0)) await hw.stop();
});

const only = (...names: string[]) => ({
  init_components: Object.fromEntries(COMPONENT_NAMES.map((n) => [n, names.includes(n)])),
});

async function start(opts: SimOptions) {
  const sim = await simulatedHardware(opts);
  await whileTimePasses(sim.clock, sim.hardware.start(), 50);
  started.push(sim.hardware);
  return sim;
}

const DAY_MS = 24 * 3600 * 1000;
const HEADER = 32;
/** A record: sequence number, time, the channels as f32, a CRC-32. */
const recordBytes = (width: number) => 20 + 4 * width;
const od = (hw: Hw) => hw.history('optical_density', undefined, 1_000_000).samples;

describe('sensor history across restarts', () => {
  it('a node stopped and started on the same DATA_DIR answers the earlier samples', async () => {
    const first = await start({ file: only('optical_density', 'temp_sensor') });
    await first.clock.advance(60_000);
    const before = od(first.hardware);
    const temps = first.hardware.history('temp_sensor', undefined, 1_000_000).samples;
    expect(before.length).toBeGreaterThanOrEqual(59);
    await first.hardware.stop();
    started.splice(started.indexOf(first.hardware), 1);

    const second = await start({
      file: only('optical_density', 'temp_sensor'),
      dataDir: first.dataDir,
      clock: createManualClock(first.clock.now() + 10_000),
    });
    const after = od(second.hardware);
    expect(after.slice(0, before.length)).toEqual(before);
    expect(second.hardware.history('temp_sensor', undefined, 1_000_000).samples.slice(0, temps.length)).toEqual(temps);
    // New samples follow the reloaded ones, in time order, and the API's `since` still cuts between them.
    await second.clock.advance(5000);
    const all = od(second.hardware);
    expect(all.length).toBeGreaterThan(before.length);
    expect(all.map((s) => s.timestamp)).toEqual([...all.map((s) => s.timestamp)].sort());
    const since = before.at(-10)?.timestamp;
    expect(second.hardware.history('optical_density', since, 1000).samples[0]).toEqual(before.at(-9));
  });

  it(`a node killed without stopping loses at most the last ${HISTORY_FLUSH_MS / 1000} s`, async () => {
    const first = await start({ file: only('optical_density') });
    await first.clock.advance(42_500);
    const before = od(first.hardware);
    // No stop(): what is in the file is what a kill -9 leaves.
    started.splice(started.indexOf(first.hardware), 1);
    const second = await start({
      file: only('optical_density'),
      dataDir: first.dataDir,
      clock: createManualClock(first.clock.now()),
    });
    const reloaded = od(second.hardware).filter((s) => Date.parse(s.timestamp) <= first.clock.now());
    expect(reloaded).toEqual(before.slice(0, reloaded.length));
    const lastTaken = Date.parse(before.at(-1)?.timestamp ?? '');
    const lastKept = Date.parse(reloaded.at(-1)?.timestamp ?? '');
    expect(lastTaken - lastKept).toBeLessThanOrEqual(HISTORY_FLUSH_MS);
  });

  it('a garbage history file is set aside with one warning, and the node starts with an empty history', async () => {
    const dataDir = tempDir();
    const path = join(dataDir, 'hardware', 'history', 'optical_density.bin');
    const seed = await start({ file: only('optical_density'), dataDir });
    await seed.clock.advance(3000);
    await seed.hardware.stop();
    started.splice(0);
    const garbage = Buffer.from('this is not a history file, just some bytes that happen to be here\n'.repeat(50));
    writeFileSync(path, garbage);

    const { lines, log } = recordingLog();
    const node = await start({
      file: only('optical_density'),
      dataDir,
      log,
      clock: createManualClock(Date.UTC(2026, 0, 2)),
    });
    const warnings = lines.filter((l) => l.level === 'warn' && l.msg.includes('history'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.msg).toContain('set aside');
    expect(readFileSync(`${path}.corrupt`)).toEqual(garbage);
    expect(od(node.hardware).length).toBeLessThanOrEqual(1);
    await node.clock.advance(10_000);
    expect(od(node.hardware).length).toBeGreaterThanOrEqual(10);
    await node.hardware.stop();
    started.splice(0);

    // The new file is a good one: the next start reloads it without a warning.
    const again = recordingLog();
    const third = await start({
      file: only('optical_density'),
      dataDir,
      log: again.log,
      clock: createManualClock(node.clock.now()),
    });
    expect(again.lines.filter((l) => l.level === 'warn')).toEqual([]);
    expect(od(third.hardware).length).toBeGreaterThanOrEqual(10);
  });

  it('the file stays bounded (24 h of samples) after more than 24 h, and a reload drops what is older than 24 h', async () => {
    // Ten-minute samples keep the test short: 144 per day.
    const file = {
      ...only('optical_density', 'co2_sensor'),
      sample_intervals_s: { optical_density: 600, co2_sensor: 600 },
    };
    const first = await start({ file });
    const path = join(first.dataDir, 'hardware', 'history', 'optical_density.bin');
    const bound = HEADER + 144 * recordBytes(3);
    await first.clock.advance(DAY_MS / 2);
    expect(statSync(path).size).toBeLessThan(bound);
    await first.clock.advance(DAY_MS + DAY_MS / 2 + 5000);
    expect(statSync(path).size).toBe(bound);
    expect(statSync(join(first.dataDir, 'hardware', 'history', 'co2_sensor.bin')).size).toBe(
      HEADER + 144 * recordBytes(1),
    );
    const kept = od(first.hardware);
    expect(kept).toHaveLength(144);
    await first.hardware.stop();
    started.splice(0);

    // Twelve hours later, the samples from more than 24 h before are not reloaded.
    const restartAt = first.clock.now() + DAY_MS / 2;
    const second = await start({ file, dataDir: first.dataDir, clock: createManualClock(restartAt) });
    const reloaded = od(second.hardware);
    expect(reloaded.length).toBeGreaterThan(60);
    expect(reloaded.length).toBeLessThan(80);
    expect(reloaded.every((s) => Date.parse(s.timestamp) >= restartAt - DAY_MS)).toBe(true);
    expect(reloaded).toEqual(kept.slice(kept.length - reloaded.length));
    await second.clock.advance(DAY_MS);
    expect(statSync(path).size).toBe(bound);
  });
});

describe('history file', () => {
  const open = (path: string, now: number, log: HistoryLog = quietLog, capacity = 10, channels = ['a', 'b']) =>
    new PersistedHistory(capacity, channels.length, { name: 'test', path, channels, now, log });
  const T0 = Date.UTC(2026, 0, 1);

  it('reloads the ring in order after it wrapped several times', () => {
    const path = join(tempDir(), 'h.bin');
    const h = open(path, T0);
    for (let i = 0; i < 35; i++) h.push(T0 + i * 1000, [i, i === 7 ? null : -i]);
    h.close();
    expect(statSync(path).size).toBe(HEADER + 10 * recordBytes(2));
    const again = open(path, T0 + 40_000);
    expect(again.query(-Infinity, 100)).toEqual(h.query(-Infinity, 100));
    expect(again.query(-Infinity, 100).map((s) => s.values[0])).toEqual([25, 26, 27, 28, 29, 30, 31, 32, 33, 34]);
    // It goes on writing where it stopped.
    again.push(T0 + 35_000, [35, -35]);
    again.close();
    expect(
      open(path, T0 + 40_000)
        .query(T0 + 33_500, 100)
        .map((s) => s.values),
    ).toEqual([
      [34, -34],
      [35, -35],
    ]);
  });

  it('a torn last record is skipped, and so is one that fails its checksum, without a warning for the torn one', () => {
    const path = join(tempDir(), 'h.bin');
    const h = open(path, T0, quietLog, 100);
    for (let i = 0; i < 20; i++) h.push(T0 + i * 1000, [i, 1]);
    h.close();
    truncateSync(path, statSync(path).size - 5);
    const { lines, log } = recordingLog();
    const torn = open(path, T0 + 60_000, log, 100);
    expect(torn.query(-Infinity, 100).map((s) => s.values[0])).toEqual([...Array(19).keys()]);
    expect(lines.filter((l) => l.level === 'warn')).toEqual([]);
    // The next record takes the torn one's place.
    torn.push(T0 + 30_000, [30, 1]);
    torn.close();
    expect(statSync(path).size).toBe(HEADER + 20 * recordBytes(2));
    const bytes = readFileSync(path);
    for (const at of [HEADER + 3 * recordBytes(2) + 10, HEADER + 4 * recordBytes(2) + 17])
      bytes.writeUInt8(bytes.readUInt8(at) ^ 0xff, at);
    writeFileSync(path, bytes);
    const flipped = recordingLog();
    const values = open(path, T0 + 60_000, flipped.log, 100)
      .query(-Infinity, 100)
      .map((s) => s.values[0]);
    expect(values).toEqual([0, 1, 2, ...Array.from({ length: 14 }, (_, i) => i + 5), 30]);
    expect(flipped.lines.filter((l) => l.level === 'warn').map((l) => l.msg)).toEqual([
      'test history file: 2 records failed their checksum and were skipped',
    ]);
  });

  it('a file too short for its header, or of other channels, does not stop the history', () => {
    const dir = tempDir();
    const path = join(dir, 'h.bin');
    writeFileSync(path, 'BRHIST');
    const { lines, log } = recordingLog();
    const h = open(path, T0, log);
    expect(lines.filter((l) => l.level === 'warn')).toHaveLength(1);
    expect(existsSync(`${path}.corrupt`)).toBe(true);
    h.push(T0 + 1000, [1, 2]);
    h.close();
    const other = open(path, T0 + 2000, quietLog, 10, ['a', 'c']);
    expect(other.length).toBe(0);
    other.close();
    // A changed sample rate (capacity) keeps the samples: the file is laid out again.
    const h2 = open(path, T0 + 2000, quietLog, 10);
    h2.push(T0 + 3000, [3, 4]);
    h2.close();
    const bigger = open(path, T0 + 4000, quietLog, 50);
    expect(bigger.query(-Infinity, 100).map((s) => s.values)).toEqual([[3, 4]]);
    bigger.close();
    expect(statSync(path).size).toBe(HEADER + recordBytes(2));
  });

  it('after the clock stepped back, samples stamped after it are dropped, at start and while running', () => {
    const path = join(tempDir(), 'h.bin');
    const h = open(path, T0);
    for (let i = 0; i < 8; i++) h.push(T0 + i * 1000, [i, 0]);
    h.close();
    const { lines, log } = recordingLog();
    const early = open(path, T0 + 4500, log);
    expect(early.query(-Infinity, 100).map((s) => s.values[0])).toEqual([0, 1, 2, 3, 4]);
    expect(lines.filter((l) => l.level === 'warn').map((l) => l.msg)).toEqual([
      expect.stringContaining('3 samples stamped after the clock'),
    ]);
    // While running: a sample older than the newest drops the newer ones, and the reload agrees.
    early.push(T0 + 4600, [46, 0]);
    early.push(T0 + 2500, [25, 0]);
    expect(early.query(-Infinity, 100).map((s) => s.values[0])).toEqual([0, 1, 2, 25]);
    early.close();
    expect(
      open(path, T0 + 60_000)
        .query(-Infinity, 100)
        .map((s) => s.values[0]),
    ).toEqual([0, 1, 2, 25]);
  });
});
