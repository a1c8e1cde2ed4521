// Charts of LiveSamples (live data or an experiment's CSV): one per enabled series group.
import type { DashboardSettings, LiveSample } from '@bioreactor/api';
import { useMemo } from 'react';
import { type ChartSeries, seriesColor, TimeChart } from './time-chart.js';

type Shown = DashboardSettings['display_components'];
const ALL: Shown = {
  co2_sensor: true,
  temperature: true,
  od_voltages: true,
  eyespy_voltages: true,
  stirrer_duty: true,
  peltier_duty: true,
};

function listSeries(samples: LiveSample[], key: 'od_voltages' | 'eyespy_voltages', label: string): ChartSeries[] {
  const width = samples.reduce((n, s) => Math.max(n, s[key]?.length ?? 0), 0);
  return Array.from({ length: width }, (_, i) => ({
    label: `${label} ${i + 1}`,
    color: seriesColor(i),
    values: samples.map((s) => s[key]?.[i] ?? null),
  }));
}

export function SampleCharts({ samples, shown = ALL }: { samples: LiveSample[]; shown?: Shown }) {
  const charts = useMemo(() => {
    const points = samples.filter((s) => s.status === 'success' && typeof s.epoch_ms === 'number');
    const times = points.map((s) => (s.epoch_ms ?? 0) / 1000);
    const has = (key: keyof LiveSample) => points.some((s) => s[key] !== undefined && s[key] !== null);
    const out: { key: string; title: string; unit: string; series: ChartSeries[] }[] = [];
    if (shown.co2_sensor && has('co2_ppm'))
      out.push({
        key: 'co2',
        title: 'CO2',
        unit: 'ppm',
        series: [{ label: 'CO2 (ppm)', color: '#059669', values: points.map((s) => s.co2_ppm ?? null) }],
      });
    if (shown.temperature && has('temperature'))
      out.push({
        key: 'temperature',
        title: 'Temperature',
        unit: '°C',
        series: [{ label: 'Temperature (°C)', color: '#dc2626', values: points.map((s) => s.temperature ?? null) }],
      });
    if (shown.od_voltages) {
      const series = listSeries(points, 'od_voltages', 'OD channel');
      if (series.length > 0) out.push({ key: 'od', title: 'Optical density', unit: 'V', series });
    }
    if (shown.eyespy_voltages) {
      const series = listSeries(points, 'eyespy_voltages', 'Eyespy');
      if (series.length > 0) out.push({ key: 'eyespy', title: 'Eyespy ADC', unit: 'V', series });
    }
    const duty: ChartSeries[] = [];
    if (shown.stirrer_duty && has('stirrer_duty'))
      duty.push({ label: 'Stirrer (%)', color: '#2563eb', values: points.map((s) => s.stirrer_duty ?? null) });
    if (shown.peltier_duty && has('peltier_duty'))
      duty.push({ label: 'Peltier (%)', color: '#d97706', values: points.map((s) => s.peltier_duty ?? null) });
    if (duty.length > 0) out.push({ key: 'duty', title: 'Actuator duty', unit: '%', series: duty });
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
