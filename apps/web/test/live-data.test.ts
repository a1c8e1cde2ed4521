// The incremental CSV reader and the hardware sample: what every reactor's live data is made of.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CsvFollower,
  CsvRecordReader,
  downsample,
  MAX_EXTRA_COLUMNS,
  MAX_RECORD_CHARS,
  rowToSample,
  timestampMs,
} from '../src/live/csv.js';
import { hardwareSample } from '../src/live/live-data.js';

const HEADER =
  'timestamp,co2_ppm,temperature,od_voltages,eyespy_voltages,stirrer_duty,peltier_duty,peltier_direction\n';
const row = (i: number) =>
  `2026-01-25T20:35:${String(10 + i).padStart(2, '0')}.103915,${600 + i},25.4,"[0.12,0.15,0.18]",[],30.0,0.0,forward\n`;

describe('CSV reading', () => {
  it('yields the same records however the bytes are split, even inside quotes or a UTF-8 character', () => {
    const text = `${HEADER}${row(0)}"2026-01-25T20:35:11","quoted, with comma","say ""hi""",µ°C\r\n${row(1)}`;
    const bytes = Buffer.from(text);
    const whole = new CsvRecordReader().push(bytes);
    expect(whole).toHaveLength(4);
    expect(whole[2]).toEqual(['2026-01-25T20:35:11', 'quoted, with comma', 'say "hi"', 'µ°C']);
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 12 }), (cuts) => {
        const reader = new CsvRecordReader();
        const out: string[][] = [];
        let from = 0;
        for (const cut of [...cuts].sort((a, b) => a - b)) {
          out.push(...reader.push(bytes.subarray(from, cut)));
          from = cut;
        }
        out.push(...reader.push(bytes.subarray(from)));
        expect(out).toEqual(whole);
      }),
    );
  });

  it('drops records a script made endless or too wide, with bounded memory, and reads on after them', () => {
    const follower = new CsvFollower('e');
    expect(follower.push(Buffer.from(HEADER))).toEqual([]);
    // An unclosed quote fed 8 MB at 64 kB a push: nothing is kept of it.
    const reader = (follower as unknown as { reader: CsvRecordReader }).reader;
    expect(follower.push(Buffer.from('"2026-01-25T20:35:11,'))).toEqual([]);
    const chunk = Buffer.alloc(64 * 1024, 'x');
    for (let i = 0; i < 128; i++) expect(follower.push(chunk)).toEqual([]);
    expect(JSON.stringify(reader).length).toBeLessThan(MAX_RECORD_CHARS * 2);
    // The quote closes; the rest of that record is dropped, and the next row reads as usual.
    expect(follower.push(Buffer.from(`"\n${row(1)}`))).toHaveLength(1);
    expect(reader.dropped).toBe(1);
    // A line of 200,000 fields is dropped too.
    expect(follower.push(Buffer.from(`${','.repeat(200_000)}\n${row(2)}`))).toHaveLength(1);
    expect(reader.dropped).toBe(2);
  });

  it('keeps at most MAX_EXTRA_COLUMNS of a script’s own columns', () => {
    const header = ['timestamp', ...Array.from({ length: 5000 }, (_, i) => `c${i}`)];
    const sample = rowToSample(header, ['2026-01-25T20:35:11Z', ...header.slice(1).map(() => '1')], 'e');
    expect(Object.keys(sample ?? {}).filter((k) => /^c\d+$/.test(k))).toHaveLength(MAX_EXTRA_COLUMNS);
  });

  it('keeps an incomplete last line until its newline arrives', () => {
    const follower = new CsvFollower('e');
    expect(follower.push(Buffer.from(HEADER + row(0).slice(0, 20)))).toEqual([]);
    expect(follower.push(Buffer.from(row(0).slice(20)))).toHaveLength(1);
  });

  it('reads Python-repr lists, blanks, v2 column names and a script’s own columns', () => {
    const header = ['timestamp', 'co2_ppm', 'photodiodes', 'temperature', 'growth_rate'];
    const sample = rowToSample(header, ['2026-01-25T20:35:11+01:00', '', '[0.5, None, nan]', '36.6', '0.02'], 'e');
    expect(sample).toMatchObject({
      co2_ppm: null,
      od_voltages: [0.5, null, null],
      temperature: 36.6,
      growth_rate: 0.02,
    });
    expect(sample?.epoch_ms).toBe(Date.parse('2026-01-25T19:35:11Z'));
    expect(timestampMs('2026-01-25T20:35:11.103915')).toBe(Date.parse('2026-01-25T20:35:11.103Z'));
    expect(rowToSample(header, ['not a time', '1', '[]', '1', '1'], 'e')).toBeUndefined();
  });

  it('reads the readings table’s columns beyond the guide’s: list counters as lists, numbers under their names', () => {
    const header = [...HEADER.trim().split(','), 'pump_volumes_ml', 'ring_light_r'];
    const cells = ['2026-01-25T20:35:10.103915', '600', '25.4', '[0.12,0.15,0.18]', '[]', '30.0', '0.0', 'forward'];
    const sample = rowToSample(header, [...cells, '[1.5,0.25]', '7'], 'e');
    expect(sample).toMatchObject({ co2_ppm: 600, peltier_direction: 'forward', pump_volumes_ml: [1.5, 0.25] });
    expect((sample as Record<string, unknown> | undefined)?.ring_light_r).toBe(7);
  });

  it('a hardware sample carries each reading the dashboard shows of the components the node reports', () => {
    const sample = hardwareSample({
      timestamp: '2026-01-25T20:35:11.000Z',
      components: {
        co2_sensor: { co2_ppm: 412 },
        optical_density: { voltages: [0.1, 0.2, 0.3], channels: ['135', 'Ref', '90'] },
        peltier_driver: { duty_cycle: 30, direction: 'heat' },
        ring_light: { red: 1, green: 2, blue: 3 },
        pumps: { pumps: [{ total_volume_ml: 1 }] },
        o2_sensor: { o2_percent: 20.95, unit: 'percent' },
      },
    });
    expect(sample).toEqual({
      timestamp: '2026-01-25T20:35:11.000Z',
      epoch_ms: Date.parse('2026-01-25T20:35:11.000Z'),
      status: 'success',
      source: 'hardware',
      experiment_id: null,
      co2_ppm: 412,
      od_voltages: [0.1, 0.2, 0.3],
      peltier_duty: 30,
      peltier_direction: 'heat',
      o2_percent: 20.95,
    });
  });

  it('downsamples to at most the asked number of points, ending with the last', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer(), { minLength: 1, maxLength: 3000 }),
        fc.integer({ min: 1, max: 500 }),
        (xs, max) => {
          const out = downsample(xs, max);
          expect(out.length).toBe(Math.min(xs.length, max));
          expect(out.at(-1)).toBe(xs.at(-1));
        },
      ),
    );
  });
});
