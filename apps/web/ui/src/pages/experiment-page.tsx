// One experiment: state and timing, actions, a live tail of its log, a chart of its CSV, the download. A program
// shows its document and timeline; a pre-flight its report from the twin.
import { EVENT_TYPES, type LiveSample, type ProgramPreview, type RunState, type WebExperiment } from '@bioreactor/api';
import { useEffect, useMemo, useRef, useState } from 'react';
import { call, client, errorText } from '../api.js';
import { ExperimentActions } from '../components/experiment-actions.js';
import { ExperimentTags } from '../components/experiment-tags.js';
import { FailureDetails } from '../components/failure-line.js';
import { Labels, NotesForm } from '../components/labels.js';
import { PreflightReport } from '../components/preflight-report.js';
import { ProgramTimelineChart } from '../components/program-timeline.js';
import { SampleCharts } from '../components/sample-charts.js';
import { StatusBadge } from '../components/status-badge.js';
import { newIdempotencyKey } from '../drafts.js';
import { elapsedSeconds, formatDuration, formatTime, relativeStart } from '../format.js';
import { useLiveResource } from '../hub-events.js';
import type { LiveRowsEvent } from '../live-model.js';
import { useStreamEvents, useStreamState } from '../live-stream.js';
import { Link, navigate } from '../router.js';
import { useSession } from '../session.js';
import { RUN_ENDS } from '../states.js';
import { ZoneSwitch } from '../time-zone.js';

/** Points of the history the chart starts from (each bucket of rows gives its min and its max). */
const SERIES_POINTS = 800;
/** New rows kept beyond the history; past this the history is fetched again, which folds them in. */
const LIVE_ROWS_KEPT = 20_000;
/** Lines of the log shown: the tail when the page opens, and at most this much text as it grows. */
const LOG_TAIL_LINES = 200;
const LOG_KEPT_CHARS = 200_000;

/**
 * The experiment's log: followed over Server-Sent Events while it runs (each new line as it is printed), read once
 * otherwise. A reconnect replays the tail, so the text is replaced by the first chunk after each (re)connection.
 */
function useLog(id: string, running: boolean, key: string) {
  const [text, setText] = useState<string>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    if (!key) return;
    const path = `/api/experiments/${encodeURIComponent(id)}/logs?tail=${LOG_TAIL_LINES}`;
    if (!running) {
      let alive = true;
      call(
        client.GET('/api/experiments/{id}/logs', { params: { path: { id }, query: { tail: LOG_TAIL_LINES } } }),
      ).then(
        (v) => {
          if (!alive) return;
          setText(v.logs);
          setError(undefined);
        },
        (err: unknown) => {
          if (alive) setError(err instanceof Error ? err.message : String(err));
        },
      );
      return () => {
        alive = false;
      };
    }
    const source = new EventSource(`${path}&follow=true`);
    let replacing = true;
    source.onopen = () => {
      replacing = true;
      setError(undefined);
    };
    source.addEventListener(EVENT_TYPES.runLog, (ev) => {
      const chunk = (JSON.parse((ev as MessageEvent<string>).data) as { text: string }).text;
      const fresh = replacing;
      replacing = false;
      setText((prev) => {
        const next = fresh ? chunk : (prev ?? '') + chunk;
        return next.length > LOG_KEPT_CHARS ? next.slice(-LOG_KEPT_CHARS) : next;
      });
    });
    source.addEventListener(EVENT_TYPES.runUpdated, (ev) => {
      const status = (JSON.parse((ev as MessageEvent<string>).data) as { experiment: { status: RunState } }).experiment
        .status;
      // The run is over and the stream ends with it: no reconnection.
      if ((RUN_ENDS as readonly RunState[]).includes(status)) source.close();
    });
    source.onerror = () => {
      if (source.readyState !== EventSource.OPEN) setError('reconnecting');
    };
    return () => source.close();
  }, [id, running, key]);
  return { text, error };
}

interface Series {
  experiment_id: string;
  file: string;
  total_rows: number;
  rows: LiveSample[];
  /** Rows of the CSV per bucket; each bucket is drawn as its min and its max, so spikes stay visible. */
  bucket_rows?: number;
  method?: string;
}

/**
 * The chart's data: the whole run's history from `GET /api/experiments/:id/series` (fetched once per state of the
 * experiment, and again after the page's stream had a gap), then each new row as the stream's live.rows brings it.
 */
function useSeries(id: string, key: string) {
  const [series, setSeries] = useState<Series>();
  const [live, setLive] = useState<LiveSample[]>([]);
  const [error, setError] = useState<string>();
  const [generation, setGeneration] = useState(0);
  const stream = useStreamState();
  const wasDown = useRef(false);
  const kept = useRef(0);
  useEffect(() => {
    // Rows sent while the stream was down may be lost: the history is fetched again once it is back.
    if (stream.kind === 'retrying') wasDown.current = true;
    if (stream.kind === 'open' && wasDown.current) {
      wasDown.current = false;
      setGeneration((g) => g + 1);
    }
  }, [stream]);
  useStreamEvents((event, data) => {
    if (event !== EVENT_TYPES.liveRows) return;
    const rows = data as LiveRowsEvent;
    if (rows.experiment_id !== id || (series && rows.file !== series.file)) return;
    // The first rows of a run whose CSV did not exist yet: its history is there now.
    if (!series && error) setGeneration((g) => g + 1);
    kept.current += rows.rows.length;
    if (kept.current > LIVE_ROWS_KEPT) setGeneration((g) => g + 1);
    setLive((prev) => [...prev, ...rows.rows]);
  });
  // biome-ignore lint/correctness/useExhaustiveDependencies: generation asks for the history again
  useEffect(() => {
    if (!key) return;
    let alive = true;
    call(
      client.GET('/api/experiments/{id}/series', { params: { path: { id }, query: { points: SERIES_POINTS } } }),
    ).then(
      (v) => {
        if (!alive) return;
        setSeries(v as Series);
        setError(undefined);
        // What came live so far stays until the next history covers it (the merge below drops the overlap).
        setLive((prev) => {
          const last = (v as Series).rows.at(-1)?.epoch_ms ?? Number.NEGATIVE_INFINITY;
          const newer = prev.filter((r) => (r.epoch_ms ?? Number.NEGATIVE_INFINITY) > last);
          kept.current = newer.length;
          return newer;
        });
      },
      (err: unknown) => {
        if (alive) setError(err instanceof Error ? err.message : String(err));
      },
    );
    return () => {
      alive = false;
    };
  }, [id, key, generation]);
  // The history's newest point: a live row up to it is already in the history.
  const rows = useMemo(() => {
    if (!series) return [];
    const last = series.rows.reduce(
      (m, r) => Math.max(m, r.epoch_ms ?? Number.NEGATIVE_INFINITY),
      Number.NEGATIVE_INFINITY,
    );
    const newer = live.filter((r) => (r.epoch_ms ?? Number.NEGATIVE_INFINITY) > last);
    return newer.length > 0 ? [...series.rows, ...newer] : series.rows;
  }, [series, live]);
  const liveCount = rows.length - (series?.rows.length ?? 0);
  return { data: series, rows, liveCount, error };
}

/**
 * The script the experiment was submitted with, and what to do with it: run it again as it is (a new experiment with
 * the same name and maximum duration) or open it in the editor to change it first.
 */
function SubmittedScript({ experiment }: { experiment: WebExperiment }) {
  const id = experiment.experiment_id;
  const [script, setScript] = useState<{
    script_content: string;
    name: string | null;
    max_duration_s: number;
    max_duration_source?: string;
    kind?: 'script' | 'program';
    program?: Record<string, unknown> | null;
  }>();
  const [timeline, setTimeline] = useState<ProgramPreview>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    call(client.GET('/api/experiments/{id}/script', { params: { path: { id } } })).then(setScript, (err: unknown) =>
      setError(errorText(err)),
    );
  }, [id]);
  const program = script?.kind === 'program' ? script.program : null;
  // A program's timeline, expanded by a node as on the upload page.
  useEffect(() => {
    if (!program) return;
    call(client.POST('/api/programs/preview', { body: { program } })).then(setTimeline, (err: unknown) =>
      setError(`Could not draw the program’s timeline: ${errorText(err)}`),
    );
  }, [program]);
  const runAgain = async () => {
    if (!script) return;
    setBusy(true);
    setError(undefined);
    try {
      const res = await call(
        client.POST('/api/experiments/upload', {
          body: {
            ...(program ? { program } : { script_content: script.script_content }),
            ...(script.name ? { name: script.name } : {}),
            ...(script.max_duration_source === 'declared' ? { max_duration_s: script.max_duration_s } : {}),
          },
          params: { header: { 'idempotency-key': newIdempotencyKey() } },
        }),
      );
      navigate(`/experiment/${res.experiment_id}`);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="card" data-testid="submitted-script">
      <h2>{program ? 'Program' : 'Script'}</h2>
      {error && (
        <p className="inline-error" role="alert">
          {error}
        </p>
      )}
      <div className="actions">
        <button
          type="button"
          className="btn btn-primary"
          disabled={!script || busy}
          onClick={runAgain}
          data-testid="run-again"
        >
          {busy ? 'Queueing…' : 'Run again'}
        </button>
        <Link href={`/upload?from=${encodeURIComponent(id)}`} className="btn" data-testid="edit-resubmit">
          Edit and resubmit
        </Link>
      </div>
      {program && (
        <>
          {timeline?.timeline ? (
            <ProgramTimelineChart timeline={timeline.timeline} testId="experiment-timeline" />
          ) : (
            timeline && <p className="muted small">{timeline.message}</p>
          )}
          <details>
            <summary>Show the program</summary>
            {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling box must be reachable by keyboard (WCAG 2.1.1) */}
            <pre className="script-view" data-testid="program-text" tabIndex={0}>
              {JSON.stringify(program, null, 2)}
            </pre>
          </details>
        </>
      )}
      {script && !program && (
        <details>
          <summary>Show the script ({script.script_content.split('\n').length} lines)</summary>
          {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling box must be reachable by keyboard (WCAG 2.1.1) */}
          <pre className="script-view" data-testid="script-text" tabIndex={0}>
            {script.script_content}
          </pre>
        </details>
      )}
    </section>
  );
}

export function ExperimentPage({ id }: { id: string }) {
  const { isAdmin } = useSession();
  const { data, error, reload } = useLiveResource(
    () => call(client.GET('/api/experiments/{id}', { params: { path: { id } } })),
    id,
  );
  const e = data?.experiment;
  const running = e?.status === 'running';
  const started = Boolean(e?.started_at);
  const logKey = e && started ? `${id}:${e.status}` : '';
  const logs = useLog(id, running, logKey);
  const series = useSeries(id, logKey);
  const logBox = useRef<HTMLPreElement>(null);
  // biome-ignore lint/correctness/useExhaustiveDependencies: scroll when new log text arrives
  useEffect(() => {
    const el = logBox.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [logs.text]);
  const [, tick] = useState(0);
  useEffect(() => {
    if (!running) return;
    const t = setInterval(() => tick((n) => n + 1), 1000);
    return () => clearInterval(t);
  }, [running]);

  if (error && !e)
    return (
      <div className="page">
        <div className="notice notice-error" data-testid="experiment-error">
          {error}
        </div>
        <Link href="/my-experiments">Back to my experiments</Link>
      </div>
    );
  if (!e) return <div className="page muted">Loading…</div>;
  return (
    <div className="page">
      <div className="page-head">
        <div className="crumbs">
          <Link href="/my-experiments">My experiments</Link> /
        </div>
        <h1 className="name-cell">
          {e.name ?? 'Experiment'} <StatusBadge status={e.status} />
        </h1>
        <ExperimentTags experiment={e} />
        <Labels labels={e.labels} />
        <div className="mono muted small" data-testid="experiment-id">
          {e.experiment_id}
        </div>
      </div>
      <div className="grid-2">
        <section className="card">
          <h2>Status</h2>
          <dl className="facts">
            <dt>State</dt>
            <dd data-testid="experiment-status">{e.status}</dd>
            <dt>Kind</dt>
            <dd data-testid="experiment-kind">
              {e.kind === 'program' ? 'program (run by the node)' : 'Python script'}
              {e.preflight ? `, pre-flight on the twin at ${e.preflight.time_scale}×` : ''}
            </dd>
            {e.queue_position !== null && (
              <>
                <dt>Queue position</dt>
                <dd>
                  {e.queue_position} (starts {relativeStart(e.estimated_start, !e.note)})
                </dd>
              </>
            )}
            <dt>Created</dt>
            <dd>{formatTime(e.created_at)}</dd>
            <dt>Started</dt>
            <dd>{formatTime(e.started_at)}</dd>
            <dt>Finished</dt>
            <dd>{formatTime(e.completed_at)}</dd>
            <dt>Run time</dt>
            <dd>
              {formatDuration(elapsedSeconds(e.started_at, e.completed_at))} of at most{' '}
              {formatDuration(e.max_duration_s)}
            </dd>
            {e.node && (
              <>
                <dt>Node</dt>
                <dd>{e.node}</dd>
              </>
            )}
            {e.exit_code !== null && (
              <>
                <dt>Exit code</dt>
                <dd>{e.exit_code}</dd>
              </>
            )}
          </dl>
          {e.note && (
            <p className="notice notice-warn" data-testid="experiment-note">
              {e.note}
            </p>
          )}
          {e.failure ? (
            <FailureDetails experiment={e} />
          ) : (
            e.error_message && <pre className="error-box">{e.error_message}</pre>
          )}
          <ExperimentActions experiment={e} isAdmin={isAdmin} onDone={reload} />
          <p>
            <ZoneSwitch />
          </p>
        </section>
        <section className="card">
          <h2>
            Log{' '}
            {running && (
              <span className="muted small" data-testid="log-live">
                {logs.error === 'reconnecting' ? '(reconnecting…)' : '(live)'}
              </span>
            )}
          </h2>
          {!started ? (
            <p className="muted">The log appears when the experiment starts.</p>
          ) : (
            // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling box must be reachable by keyboard (WCAG 2.1.1)
            <pre className="log" ref={logBox} data-testid="experiment-log" tabIndex={0}>
              {logs.text || (logs.error ? `Log unavailable: ${logs.error}` : 'No output yet.')}
            </pre>
          )}
        </section>
      </div>
      {!e.masked && e.preflight && <PreflightReport experiment={e} />}
      {/* A program's timeline needs the page's width. */}
      {!e.masked && e.kind === 'program' && <SubmittedScript experiment={e} />}
      {!e.masked && (
        <div className="grid-2">
          {e.kind !== 'program' && <SubmittedScript experiment={e} />}
          <section className="card">
            <h2>Notes and labels</h2>
            <NotesForm experiment={e} onSaved={reload} />
          </section>
        </div>
      )}
      <h2>Data</h2>
      {!started ? (
        <p className="muted">The chart fills in once the experiment writes its CSV.</p>
      ) : series.data ? (
        <>
          <p className="muted small" data-testid="series-summary">
            {series.data.total_rows} rows of {series.data.file}
            {(series.data.bucket_rows ?? 1) > 1
              ? ` (each point the lowest and highest of ${series.data.bucket_rows} rows)`
              : series.data.total_rows > series.data.rows.length
                ? ` (showing ${series.data.rows.length})`
                : ''}
            {running && (
              <span data-testid="series-live">
                {' '}
                · live{series.liveCount > 0 ? `: ${series.liveCount} new row${series.liveCount === 1 ? '' : 's'}` : ''}
              </span>
            )}
          </p>
          <SampleCharts samples={series.rows} />
        </>
      ) : (
        <p className="muted">{series.error ? `No CSV yet: ${series.error}` : 'Loading…'}</p>
      )}
    </div>
  );
}
