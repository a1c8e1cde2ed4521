// Charts of LiveSamples (live data or an experiment's CSV): one per chart of the readings table (readings.ts), with a
// series for each shown reading the samples carry. Readings sharing a chart id share a chart (the actuator duties).
import { type DashboardSettings, DISPLAYED_READINGS, type LiveSample } from '@bioreactor/api';
import { useMemo } from 'react';
import { type ChartSeries, seriesColor, TimeChart } from './time-chart.js';

type Shown = DashboardSettings['display_components'];

/** Whether the settings show a reading's series: a key they do not have (a reading added since) is shown. */
export const isShown = (shown: Shown | undefined, setting: string): boolean =>
  (shown as Record<string, boolean | undefined> | undefined)?.[setting] ?? true;

type CellValue = number | null | undefined | (number | null)[];
const cellOf = (sample: LiveSample, key: string): CellValue => (sample as Record<string, unknown>)[key] as CellValue;

function listSeries(samples: LiveSample[], key: string, label: string): ChartSeries[] {
  const width = samples.reduce((n, s) => {
    const v = cellOf(s, key);
    return Math.max(n, Array.isArray(v) ? v.length : 0);
  }, 0);
  return Array.from({ length: width }, (_, i) => ({
    label: `${label} ${i + 1}`,
    color: seriesColor(i),
    values: samples.map((s) => {
      const v = cellOf(s, key);
      return Array.isArray(v) ? (v[i] ?? null) : null;
    }),
  }));
}

export function SampleCharts({ samples, shown }: { samples: LiveSample[]; shown?: Shown }) {
  const charts = useMemo(() => {
    const points = samples.filter((s) => s.status === 'success' && typeof s.epoch_ms === 'number');
    const times = points.map((s) => (s.epoch_ms ?? 0) / 1000);
    const has = (key: string) => points.some((s) => cellOf(s, key) !== undefined && cellOf(s, key) !== null);
    const out: { key: string; title: string; unit: string; series: ChartSeries[] }[] = [];
    for (const { key, spec, display, setting } of DISPLAYED_READINGS) {
      const chart = display.chart;
      if (!chart || !isShown(shown, setting)) continue;
      let group = out.find((c) => c.key === chart.id);
      const series =
        spec.kind === 'list'
          ? listSeries(points, key, chart.series)
          : has(key)
            ? [
                {
                  label: chart.series,
                  color: chart.color ?? seriesColor(group?.series.length ?? 0),
                  values: points.map((s) => {
                    const v = cellOf(s, key);
                    return typeof v === 'number' ? v : null;
                  }),
                },
              ]
            : [];
      if (series.length === 0) continue;
      if (!group) {
        group = { key: chart.id, title: chart.title, unit: spec.symbol, series: [] };
        out.push(group);
      }
      group.series.push(...series);
    }
    return { times, out };
  }, [samples, shown]);

  if (charts.out.length === 0)
    return <div className="card empty muted">No data to chart yet: points appear as they are measured.</div>;
  return (
    <div className="charts">
      {charts.out.map((c) => (
        <TimeChart
          key={c.key}
          testId={`chart-${c.key}`}
          title={c.title}
          unit={c.unit}
          times={charts.times}
          series={c.series}
        />
      ))}
    </div>
  );
}
