// One reactor on the dashboard: a card of the lab overview (state, experiment, key values, source and age) and its
// panel (tiles, safety, charts). Both say where their numbers come from and how old they are, and turn visibly stale
// (a label with the reason, values greyed) when the reactor has gone quiet, its node or the hub is away, or the page
// has lost its stream: frozen numbers are never shown as live.
import {
  type DashboardSettings,
  DISPLAYED_READINGS,
  type LiveSample,
  type NodeInfo,
  type ReadingDisplay,
} from '@bioreactor/api';
import { formatNumber } from '../format.js';
import type { ReactorLive } from '../live-model.js';
import { Link } from '../router.js';
import { isShown, SampleCharts } from './sample-charts.js';

/** The tiles: every reading of the table with one (readings.ts), in its order. */
const TILES = DISPLAYED_READINGS.flatMap((r) =>
  r.display.tile ? [{ ...r, tile: r.display.tile as NonNullable<ReadingDisplay['tile']> }] : [],
);
/** The overview card's values: the guide's first tiles (CO2, temperature). */
const KEY_TILES = TILES.filter((t) => t.spec.guide).slice(0, 2);

const SOURCE_LABEL: Record<LiveSample['source'], string> = {
  csv: 'CSV',
  hardware: 'Hardware',
  unknown: 'Unknown',
};

export type ReactorState = 'idle' | 'running' | 'offline' | 'drained';

/** What the reactor is doing, from the hub's node record and, failing that, the live stream. */
export function reactorState(info: NodeInfo | undefined, live: ReactorLive | undefined): ReactorState {
  if (info && !info.online) return 'offline';
  if (!info && live && !live.connected) return 'offline';
  if (info?.running_experiment || live?.experiment) return 'running';
  if (info?.drained) return 'drained';
  return 'idle';
}

const STATE_WORDS: Record<ReactorState, string> = {
  idle: 'idle',
  running: 'running an experiment',
  offline: 'offline',
  drained: 'drained',
};

/** "just now", "12 s ago", "3 min ago". */
export function ageText(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 2) return 'just now';
  if (s < 120) return `${s} s ago`;
  const m = Math.round(s / 60);
  return m < 120 ? `${m} min ago` : `${Math.round(m / 60)} h ago`;
}

const readingOf = (sample: LiveSample | null | undefined, key: string) =>
  (sample as Record<string, unknown> | null | undefined)?.[key];

function StateBadge({ state }: { state: ReactorState }) {
  return (
    <span className={`badge badge-reactor-${state}`} data-testid="reactor-state" data-state={state}>
      {STATE_WORDS[state]}
    </span>
  );
}

/** Where the values come from and how old they are; "stale" with the reason when they are not live. */
function SourceLine({
  live,
  stale,
  now,
  prefix = '',
}: {
  live: ReactorLive | undefined;
  stale: string | null;
  now: number;
  /** Test ids of the overview's card start with "card-", so a panel's stay the dashboard's own. */
  prefix?: string;
}) {
  const source = live?.sample?.source ?? live?.source ?? 'unknown';
  return (
    <div className="source-line small" data-testid={`${prefix}source-line`} data-stale={stale ? 'true' : 'false'}>
      <span data-testid={`${prefix}data-source`} data-source={source}>
        Data Source: <strong>{SOURCE_LABEL[source]}</strong>
        {source === 'csv' && ' (experiment running)'}
        {source === 'hardware' && ' (live)'}
      </span>
      <span className="muted" data-testid={`${prefix}data-age`}>
        {live?.sample ? `updated ${ageText(now - live.heard_ms)}` : 'no reading yet'}
      </span>
      {stale && (
        <span className="stale-label" data-testid={`${prefix}stale-label`}>
          <strong>Stale</strong>
          <span className="visually-hidden">: these values are not live, because</span>
          <span className="stale-reason"> — {stale}</span>
        </span>
      )}
    </div>
  );
}

function ExperimentLine({ live }: { live: ReactorLive | undefined }) {
  const e = live?.experiment;
  if (!e) return <span className="muted">No experiment running</span>;
  const name = e.name ?? e.experiment_id.slice(0, 8);
  return (
    <span data-testid="reactor-experiment">
      Running{' '}
      {e.masked ? <span>another user’s experiment</span> : <Link href={`/experiment/${e.experiment_id}`}>{name}</Link>}
      {e.mine && ' (yours)'}
    </span>
  );
}

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

interface ReactorProps {
  name: string;
  info: NodeInfo | undefined;
  live: ReactorLive | undefined;
  stale: string | null;
  now: number;
}

/** The overview's card: a line per reactor's state, experiment and key values, linking to its panel. */
export function ReactorCard({ name, info, live, stale, now }: ReactorProps) {
  const state = reactorState(info, live);
  return (
    <section
      className={`card reactor-card${stale ? ' is-stale' : ''}`}
      data-testid="reactor-card"
      data-node={name}
      data-stale={stale ? 'true' : 'false'}
      aria-label={`Reactor ${name}`}
    >
      <div className="reactor-head">
        <h3>
          <a href={`#reactor-${name}`}>{name}</a>
        </h3>
        <StateBadge state={state} />
      </div>
      <div className="small">
        <ExperimentLine live={live} />
      </div>
      <dl className="key-values">
        {KEY_TILES.map(({ key, spec, tile }) => (
          <div key={key}>
            <dt>{tile.label}</dt>
            <dd data-testid={`card-${tile.testId}`}>
              {formatNumber(readingOf(live?.sample, key) as number | null | undefined, tile.digits ?? spec.digits)}{' '}
              <span className="reading-unit">{spec.symbol}</span>
            </dd>
          </div>
        ))}
      </dl>
      <SourceLine live={live} stale={stale} now={now} prefix="card-" />
    </section>
  );
}

/** A reactor's panel: its tiles, safety interlocks and charts. */
export function ReactorPanel({
  name,
  info,
  live,
  stale,
  now,
  settings,
}: ReactorProps & { settings: DashboardSettings | undefined }) {
  const shown = settings?.display_components;
  const latest = live?.sample ?? undefined;
  const history = live?.history ?? [];
  // A reading beyond the guide's gets its tile once the node (or the CSV) carries it.
  const carried = (key: string) =>
    [latest, ...history.slice(-1)].some((s) => s !== undefined && readingOf(s, key) !== undefined);
  return (
    <section
      className={`reactor-panel${stale ? ' is-stale' : ''}`}
      id={`reactor-${name}`}
      data-testid="reactor-panel"
      data-node={name}
      data-stale={stale ? 'true' : 'false'}
      aria-labelledby={`reactor-title-${name}`}
    >
      <div className="card reactor-panel-head">
        <div className="reactor-head">
          <h2 id={`reactor-title-${name}`}>{name}</h2>
          <StateBadge state={reactorState(info, live)} />
          <ExperimentLine live={live} />
        </div>
        <SourceLine live={live} stale={stale} now={now} />
      </div>
      {live && live.safety.length > 0 && (
        <div className="notice notice-error" data-testid="safety-interlocks">
          <strong>Safety interlock</strong>
          {live.safety.map((text) => (
            <div key={text}>{text}</div>
          ))}
        </div>
      )}
      {latest?.status === 'error' && latest.message && (
        <div className="notice notice-warn" data-testid="live-error">
          {latest.message}
        </div>
      )}
      {!latest ? (
        <div className="card empty muted" data-testid="no-live-data">
          No live data from {name} yet.
        </div>
      ) : (
        <div className="readings">
          {TILES.filter(({ key, spec, setting }) => isShown(shown, setting) && (spec.guide || carried(key))).map(
            ({ key, spec, tile }) => {
              const suffix = tile.suffixFrom ? readingOf(latest, tile.suffixFrom) : null;
              return (
                <Reading
                  key={key}
                  label={typeof suffix === 'string' && suffix ? `${tile.label} (${suffix})` : tile.label}
                  value={formatNumber(readingOf(latest, key) as number | null | undefined, tile.digits ?? spec.digits)}
                  unit={spec.symbol}
                  testId={tile.testId}
                />
              );
            },
          )}
        </div>
      )}
      {shown && history.length > 0 && <SampleCharts samples={history} shown={shown} />}
    </section>
  );
}
