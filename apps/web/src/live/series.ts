// The experiment page's chart: the node keeps a min/max summary of each CSV (bounded, for runs of millions of rows)
// and the hub relays it; the web server only renames its columns to the readings a LiveSample carries, as csv.ts
// does for rows, so the chart reads a series and live rows alike.
import { type LiveSample, READING_KEYS, readingSpec } from '@bioreactor/api';
import type { HubSeries } from '../hub-client.js';
import { columnsOf } from './csv.js';

const LIST_KEYS = new Set<string>(READING_KEYS.filter((k) => readingSpec(k).kind === 'list'));
/** A list reading's element as a column of its own: `od_voltages[1]` or `od_voltages.1`. */
const LIST_ELEMENT = /^([a-z][a-z0-9_]{0,40})(?:\[(\d{1,2})\]|\.(\d{1,2}))$/i;

/** The chart's series (web-routes.ts ExperimentSeries): LiveSample rows, two per bucket of `bucket_rows` rows. */
export interface ChartSeries {
  experiment_id: string;
  file: string;
  total_rows: number;
  bucket_rows: number;
  method: 'minmax';
  rows: LiveSample[];
}

type Setter = (sample: Record<string, unknown>, value: number | null) => void;

/** How each column of the node's summary lands in a sample; columns the dashboard has no place for are left out. */
function settersOf(columns: string[]): (Setter | undefined)[] {
  const known = columnsOf(['timestamp', ...columns]);
  const setters: (Setter | undefined)[] = columns.map(() => undefined);
  // Indices in `known` count the timestamp column first.
  for (const [key, i] of known.numeric) setters[i - 1] = (s, v) => (s[key] = v);
  for (const [name, i] of known.extra)
    setters[i - 1] = (s, v) => {
      if (v !== null) s[name] = v;
    };
  columns.forEach((name, i) => {
    const m = LIST_ELEMENT.exec(name);
    const key = m?.[1] === 'photodiodes' ? 'od_voltages' : m?.[1];
    if (!m || !key || !LIST_KEYS.has(key)) return;
    const at = Number(m[2] ?? m[3]);
    setters[i] = (s, v) => {
      if (!Array.isArray(s[key])) s[key] = [];
      const list = s[key] as (number | null)[];
      while (list.length < at) list.push(null);
      list[at] = v;
    };
  });
  return setters;
}

/** The hub's series as the chart's rows: one LiveSample per point, at its bucket's first or last time. */
export function seriesFromHub(series: HubSeries, experimentId: string): ChartSeries {
  const setters = settersOf(series.columns);
  const rows: LiveSample[] = [];
  for (const point of series.points) {
    const t = point[0];
    if (typeof t !== 'number' || !Number.isFinite(t)) continue;
    const sample: LiveSample = {
      timestamp: new Date(t).toISOString(),
      epoch_ms: t,
      status: 'success',
      source: 'csv',
      experiment_id: experimentId,
    };
    for (let c = 0; c < setters.length; c++) {
      const value = point[c + 1];
      setters[c]?.(
        sample as Record<string, unknown>,
        typeof value === 'number' && Number.isFinite(value) ? value : null,
      );
    }
    rows.push(sample);
  }
  return {
    experiment_id: experimentId,
    file: series.file,
    total_rows: series.total_rows,
    bucket_rows: series.bucket_rows,
    method: 'minmax',
    rows,
  };
}
