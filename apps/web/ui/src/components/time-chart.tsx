// A uPlot time-series chart that follows its container's width, shared by the dashboard and the experiment page:
// a zoom or pan the user made stays across data updates; time-range presets (all, 5 min, 1 h, 24 h, following the
// newest point); export as PNG or as CSV of the visible range; gaps in the data drawn as gaps; times in the zone the
// page shows (the lab's or the browser's), labelled.
import { useEffect, useMemo, useRef, useState } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { formatDateTime, zoneName } from '../format.js';
import { useTimeZone } from '../time-zone.js';

export interface ChartSeries {
  label: string;
  color: string;
  values: (number | null)[];
}

const PALETTE = ['#2563eb', '#dc2626', '#059669', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#4b5563'];
export const seriesColor = (i: number): string => PALETTE[i % PALETTE.length] ?? '#2563eb';

/** Time ranges a chart can be set to; each follows the newest point. */
export const RANGES = [
  { key: 'all', label: 'All', seconds: null },
  { key: '5m', label: '5 min', seconds: 300 },
  { key: '1h', label: '1 h', seconds: 3600 },
  { key: '24h', label: '24 h', seconds: 86_400 },
] as const;
type RangeKey = (typeof RANGES)[number]['key'];

/** A view the user chose by dragging or panning; kept until they pick a range again. */
type View = { kind: 'range'; range: RangeKey } | { kind: 'zoom'; min: number; max: number };

/** A pause longer than this many typical sample intervals is a gap, drawn as a break in the line. */
const GAP_FACTOR = 3;
/** A chart with one point (or all at one moment) spans this much around it, not years. */
const MIN_SPAN_S = 60;

/**
 * The data with a null row in every gap: uPlot breaks a line at a null (spanGaps false), so a pause in sampling
 * (the node away, the run paused) shows as a pause, not as a straight line across it.
 */
export function withGaps(
  times: number[],
  series: (number | null)[][],
): { times: number[]; series: (number | null)[][] } {
  if (times.length < 3) return { times, series };
  const steps = times
    .slice(1)
    .map((t, i) => t - (times[i] ?? t))
    .filter((d) => d > 0)
    .sort((a, b) => a - b);
  const median = steps[Math.floor(steps.length / 2)] ?? 0;
  if (median <= 0) return { times, series };
  const outTimes: number[] = [];
  const outSeries: (number | null)[][] = series.map(() => []);
  for (let i = 0; i < times.length; i++) {
    const t = times[i] ?? 0;
    const prev = times[i - 1];
    if (prev !== undefined && t - prev > median * GAP_FACTOR) {
      outTimes.push((prev + t) / 2);
      for (const s of outSeries) s.push(null);
    }
    outTimes.push(t);
    for (const [k, s] of series.entries()) outSeries[k]?.push(s[i] ?? null);
  }
  return { times: outTimes, series: outSeries };
}

/** The rows of the visible range as CSV: the time in UTC and in the zone shown, then each series. */
export function visibleCsv(times: number[], series: ChartSeries[], min: number, max: number, zone: string): string {
  const quote = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  const lines = [['timestamp_utc', `time_${zone}`, ...series.map((s) => s.label)].map(quote).join(',')];
  times.forEach((t, i) => {
    if (t < min || t > max) return;
    const values = series.map((s) => {
      const v = s.values[i];
      return v === null || v === undefined ? '' : String(v);
    });
    lines.push([new Date(t * 1000).toISOString(), formatDateTime(t * 1000), ...values].join(','));
  });
  return `${lines.join('\n')}\n`;
}

function download(name: string, blob: Blob): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

const slug = (s: string) => s.replace(/[^A-Za-z0-9]+/g, '_').replace(/^_|_$/g, '') || 'chart';

export function TimeChart({
  title,
  unit,
  times,
  series,
  height = 220,
  testId,
  exportName,
}: {
  title: string;
  unit: string;
  /** Seconds since the epoch. */
  times: number[];
  series: ChartSeries[];
  height?: number;
  testId?: string;
  /** Names the exported files (e.g. the experiment); the title is added. */
  exportName?: string;
}) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const [view, setView] = useState<View>({ kind: 'range', range: 'all' });
  const viewRef = useRef(view);
  viewRef.current = view;
  /** Set while the chart itself moves the x scale, so only the user's own drags count as a zoom. */
  const applying = useRef(false);
  const { label: zoneText } = useTimeZone();
  const zone = zoneName();
  const shape = series.map((s) => `${s.label}:${s.color}`).join('|');
  const gapped = useMemo(
    () =>
      withGaps(
        times,
        series.map((s) => s.values),
      ),
    [times, series],
  );
  const data = useMemo(() => [gapped.times, ...gapped.series] as uPlot.AlignedData, [gapped]);

  /** The x range the chart should show now: the user's zoom, or the chosen range ending at the newest point. */
  const wanted = (v: View): [number, number] | null => {
    if (v.kind === 'zoom') return [v.min, v.max];
    const last = times.at(-1);
    const first = times[0];
    if (last === undefined || first === undefined) return null;
    const seconds = RANGES.find((r) => r.key === v.range)?.seconds ?? null;
    const min = seconds === null ? first : Math.max(first, last - seconds);
    return max2(min, last);
  };
  const wantedRef = useRef(wanted);
  wantedRef.current = wanted;

  const apply = (u: uPlot) => {
    const range = wantedRef.current(viewRef.current);
    if (!range) return;
    applying.current = true;
    u.setScale('x', { min: range[0], max: range[1] });
    applying.current = false;
  };

  // biome-ignore lint/correctness/useExhaustiveDependencies: the chart is rebuilt only when its series, size or zone change
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const opts: uPlot.Options = {
      width: el.clientWidth || 600,
      height,
      legend: { live: true },
      cursor: { drag: { x: true, y: false } },
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), zone),
      scales: {
        x: {
          time: true,
          // One point, or all at one moment: a minute either side, not years.
          range: (_u, min, max) => (max - min < 1 ? [min - MIN_SPAN_S, max + MIN_SPAN_S] : [min, max]),
        },
      },
      axes: [
        { stroke: '#475569', grid: { stroke: '#e2e8f0' } },
        { stroke: '#475569', grid: { stroke: '#e2e8f0' }, label: unit, size: 60 },
      ],
      series: [
        { value: (_u, v) => (v === null ? '—' : formatDateTime(v * 1000)) },
        ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2, spanGaps: false })),
      ],
      hooks: {
        setSelect: [
          (u) => {
            // A drag selects a time span: zoom to it, and keep it while new points arrive.
            if (u.select.width < 2) return;
            const min = u.posToVal(u.select.left, 'x');
            const max = u.posToVal(u.select.left + u.select.width, 'x');
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            setView({ kind: 'zoom', min, max });
          },
        ],
      },
    };
    // The zoom is ours to apply (the effect below), so uPlot's own drag-to-zoom is off.
    (opts.cursor as uPlot.Cursor).drag = { x: true, y: false, setScale: false };
    const u = new uPlot(opts, data, el);
    plot.current = u;
    apply(u);
    // A double click goes back to the whole run.
    const reset = () => setView({ kind: 'range', range: 'all' });
    u.over.addEventListener('dblclick', reset);
    const resize = new ResizeObserver(() => {
      if (el.clientWidth > 0) u.setSize({ width: el.clientWidth, height });
    });
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.over.removeEventListener('dblclick', reset);
      u.destroy();
      plot.current = null;
    };
  }, [shape, height, unit, zone]);

  // New data keeps the view: a zoom stays where it is, a range follows the newest point.
  // biome-ignore lint/correctness/useExhaustiveDependencies: applies the view whenever the data or the view change
  useEffect(() => {
    const u = plot.current;
    if (!u) return;
    u.setData(data, false);
    apply(u);
  }, [data, view]);

  const pan = (direction: -1 | 1) => {
    const u = plot.current;
    if (!u) return;
    const min = u.scales.x?.min ?? 0;
    const max = u.scales.x?.max ?? 0;
    const step = (max - min) / 2;
    setView({ kind: 'zoom', min: min + direction * step, max: max + direction * step });
  };

  const visible = (): [number, number] => {
    const u = plot.current;
    return [u?.scales.x?.min ?? Number.NEGATIVE_INFINITY, u?.scales.x?.max ?? Number.POSITIVE_INFINITY];
  };
  const fileBase = `${slug(exportName ?? 'bioreactor')}_${slug(title)}`;

  const exportPng = () => {
    const u = plot.current;
    if (!u) return;
    const src = u.ctx.canvas;
    const pad = 36 * uPlot.pxRatio;
    const canvas = document.createElement('canvas');
    canvas.width = src.width;
    canvas.height = src.height + pad * 2;
    const ctx = canvas.getContext('2d');
    if (!ctx) return;
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.fillStyle = '#0f172a';
    ctx.font = `${14 * uPlot.pxRatio}px system-ui, sans-serif`;
    ctx.fillText(`${title} (${unit})`, 8 * uPlot.pxRatio, 22 * uPlot.pxRatio);
    ctx.drawImage(src, 0, pad);
    ctx.fillStyle = '#475569';
    ctx.font = `${11 * uPlot.pxRatio}px system-ui, sans-serif`;
    const legend = series.map((s) => s.label).join(' · ');
    ctx.fillText(`${legend} — times: ${zoneText}`, 8 * uPlot.pxRatio, canvas.height - 12 * uPlot.pxRatio);
    canvas.toBlob((blob) => blob && download(`${fileBase}.png`, blob), 'image/png');
  };

  const exportCsv = () => {
    const [min, max] = visible();
    download(`${fileBase}.csv`, new Blob([visibleCsv(times, series, min, max, zone)], { type: 'text/csv' }));
  };

  return (
    <section className="card chart-card" data-testid={testId}>
      <div className="chart-head">
        <h3>{title}</h3>
        <span className="muted small" data-testid="chart-zone">
          {zoneText}
        </span>
      </div>
      <div className="chart-tools" role="toolbar" aria-label={`${title}: time range and export`}>
        {RANGES.map((r) => (
          <button
            key={r.key}
            type="button"
            className="btn btn-small"
            aria-pressed={view.kind === 'range' && view.range === r.key}
            onClick={() => setView({ kind: 'range', range: r.key })}
            data-testid={`chart-range-${r.key}`}
          >
            {r.label}
          </button>
        ))}
        <button type="button" className="btn btn-small" aria-label="Earlier" onClick={() => pan(-1)}>
          ◀
        </button>
        <button type="button" className="btn btn-small" aria-label="Later" onClick={() => pan(1)}>
          ▶
        </button>
        <button type="button" className="btn btn-small" onClick={exportPng} data-testid="chart-export-png">
          PNG
        </button>
        <button type="button" className="btn btn-small" onClick={exportCsv} data-testid="chart-export-csv">
          CSV
        </button>
        {view.kind === 'zoom' && (
          <span className="muted small" data-testid="chart-zoomed">
            zoomed (double-click the chart or pick a range to reset)
          </span>
        )}
      </div>
      <div ref={box} className="chart" />
    </section>
  );
}

/** A range at least a few seconds wide: one point (or all at one moment) gets a minute either side. */
function max2(min: number, max: number): [number, number] {
  return max - min < 1 ? [min - MIN_SPAN_S, max + MIN_SPAN_S] : [min, max];
}
