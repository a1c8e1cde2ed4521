// The live dashboard: one EventSource on /api/live-data, a snapshot with history on connect, then samples.
import { type DashboardSettings, DISPLAYED_READINGS, type LiveSample, type ReadingDisplay } from '@bioreactor/api';
import { useEffect, useState } from 'react';
import { isShown, SampleCharts } from '../components/sample-charts.js';
import { formatNumber, formatTime } from '../format.js';
import { Link } from '../router.js';

/** Points kept in the browser; older ones scroll off the charts. */
const WINDOW = 900;

interface Snapshot {
  sample: LiveSample;
  history: LiveSample[];
  settings: DashboardSettings;
  /** The node's safety interlocks in force (absent from a web server older than this page). */
  safety?: string[];
}

type Connection = 'connecting' | 'connected' | 'reconnecting';

/** The tiles: every reading of the table with one (readings.ts), in its order. */
const TILES = DISPLAYED_READINGS.flatMap((r) =>
  r.display.tile ? [{ ...r, tile: r.display.tile as NonNullable<ReadingDisplay['tile']> }] : [],
);

const SOURCE_LABEL: Record<LiveSample['source'], string> = {
  csv: 'CSV',
  hardware: 'Hardware',
  unknown: 'Unknown',
};

function Reading({ label, value, unit, testId }: { label: string; value: string; unit: string; testId: string }) {
  return (
    <div className="reading card">
      <div className="reading-label">{label}</div>
      <div className="reading-value" data-testid={testId}>
        {value}
        <span className="reading-unit">{unit}</span>
      </div>
    </div>
  );
}

export function DashboardPage() {
  const [connection, setConnection] = useState<Connection>('connecting');
  const [latest, setLatest] = useState<LiveSample>();
  const [history, setHistory] = useState<LiveSample[]>([]);
  const [settings, setSettings] = useState<DashboardSettings>();
  const [interlocks, setInterlocks] = useState<string[]>([]);

  useEffect(() => {
    const source = new EventSource('/api/live-data');
    source.onopen = () => setConnection('connected');
    source.onerror = () => setConnection(source.readyState === EventSource.CLOSED ? 'reconnecting' : 'reconnecting');
    source.addEventListener('snapshot', (e: MessageEvent<string>) => {
      const snap = JSON.parse(e.data) as Snapshot;
      setConnection('connected');
      setSettings(snap.settings);
      setLatest(snap.sample);
      setHistory(snap.history.slice(-WINDOW));
      setInterlocks(snap.safety ?? []);
    });
    source.addEventListener('safety', (e: MessageEvent<string>) => {
      setInterlocks((JSON.parse(e.data) as { interlocks: string[] }).interlocks);
    });
    source.addEventListener('sample', (e: MessageEvent<string>) => {
      const sample = JSON.parse(e.data) as LiveSample;
      setConnection('connected');
      setLatest(sample);
      if (sample.status === 'success') {
        setHistory((h) => {
          // A change of source (experiment started or ended) starts the charts afresh.
          const last = h.at(-1);
          const next = last && last.source !== sample.source ? [] : h;
          return [...next, sample].slice(-WINDOW);
        });
      }
    });
    return () => source.close();
  }, []);

  const shown = settings?.display_components;
  // A reading beyond the guide's gets its tile once the node (or the CSV) carries it.
  const carried = (key: string) =>
    [latest, ...history.slice(-1)].some((s) => s !== undefined && (s as Record<string, unknown>)[key] !== undefined);
  const sourceText = latest ? SOURCE_LABEL[latest.source] : 'Unknown';
  return (
    <div className="page">
      <div className="page-head">
        <h1>Live dashboard</h1>
      </div>
      <div className="statusbar card" data-testid="dashboard-status">
        <span className="status-item">
          <span className={`dot ${connection === 'connected' ? 'dot-ok' : 'dot-bad'}`} />
          <span data-testid="connection-state">
            {connection === 'connected'
              ? 'Connected'
              : connection === 'connecting'
                ? 'Connecting…'
                : 'Disconnected, reconnecting…'}
          </span>
        </span>
        <span className="status-item" data-testid="data-source" data-source={latest?.source ?? 'unknown'}>
          Data Source: <strong>{sourceText}</strong>
          {latest?.source === 'csv' && ' (experiment running)'}
          {latest?.source === 'hardware' && ' (live)'}
        </span>
        {latest?.source === 'csv' && latest.experiment_id && (
          <span className="status-item">
            Experiment <Link href={`/experiment/${latest.experiment_id}`}>{latest.experiment_id.slice(0, 8)}</Link>
            {settings && <span className="muted"> · {settings.csv_file_path}</span>}
          </span>
        )}
        <span className="status-item muted">
          Updated {latest ? formatTime(latest.timestamp) : '—'}
          {settings && <> · every {settings.update_interval} s</>}
        </span>
        <Link href="/settings" className="status-item">
          Settings
        </Link>
      </div>
      {interlocks.length > 0 && (
        <div className="notice notice-error" data-testid="safety-interlocks">
          <strong>Safety interlock</strong>
          {interlocks.map((text) => (
            <div key={text}>{text}</div>
          ))}
        </div>
      )}
      {latest?.status === 'error' && latest.message && (
        <div className="notice notice-warn" data-testid="live-error">
          {latest.message}
        </div>
      )}
      <div className="readings">
        {TILES.filter(({ key, spec, setting }) => isShown(shown, setting) && (spec.guide || carried(key))).map(
          ({ key, spec, tile }) => {
            const suffix = tile.suffixFrom ? (latest as Record<string, unknown> | undefined)?.[tile.suffixFrom] : null;
            return (
              <Reading
                key={key}
                label={typeof suffix === 'string' && suffix ? `${tile.label} (${suffix})` : tile.label}
                value={formatNumber(
                  (latest as Record<string, unknown> | undefined)?.[key] as number | null | undefined,
                  tile.digits ?? spec.digits,
                )}
                unit={spec.symbol}
                testId={tile.testId}
              />
            );
          },
        )}
      </div>
      {shown && <SampleCharts samples={history} shown={shown} />}
    </div>
  );
}
