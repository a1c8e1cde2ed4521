// One experiment: state and timing, actions, a live tail of its log, a chart of its CSV, the download.
import { EVENT_TYPES, type RunState, type WebExperiment } from '@bioreactor/api';
import { useEffect, useRef, useState } from 'react';
import { call, client, errorText } from '../api.js';
import { ExperimentActions } from '../components/experiment-actions.js';
import { FailureDetails } from '../components/failure-line.js';
import { Labels, NotesForm } from '../components/labels.js';
import { SampleCharts } from '../components/sample-charts.js';
import { StatusBadge } from '../components/status-badge.js';
import { newIdempotencyKey } from '../drafts.js';
import { elapsedSeconds, formatDuration, formatTime, relativeStart } from '../format.js';
import { useLiveResource } from '../hub-events.js';
import { Link, navigate } from '../router.js';
import { useSession } from '../session.js';
import { RUN_ENDS } from '../states.js';
import { ZoneSwitch } from '../time-zone.js';

/** While an experiment runs its chart refreshes this often; a finished one is fetched once more. */
const RUNNING_REFRESH_MS = 3000;
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

function useWhileRunning<T>(load: () => Promise<T>, running: boolean, key: string) {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<string>();
  const loadRef = useRef(load);
  loadRef.current = load;
  useEffect(() => {
    if (!key) return;
    let alive = true;
    const refresh = () =>
      loadRef.current().then(
        (v) => {
          if (alive) {
            setData(v);
            setError(undefined);
          }
        },
        (err: unknown) => {
          if (alive) setError(err instanceof Error ? err.message : String(err));
        },
      );
    void refresh();
    const timer = running ? setInterval(refresh, RUNNING_REFRESH_MS) : undefined;
    return () => {
      alive = false;
      if (timer) clearInterval(timer);
    };
  }, [running, key]);
  return { data, error };
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
  }>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    call(client.GET('/api/experiments/{id}/script', { params: { path: { id } } })).then(setScript, (err: unknown) =>
      setError(errorText(err)),
    );
  }, [id]);
  const runAgain = async () => {
    if (!script) return;
    setBusy(true);
    setError(undefined);
    try {
      const res = await call(
        client.POST('/api/experiments/upload', {
          body: {
            script_content: script.script_content,
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
      <h2>Script</h2>
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
      {script && (
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
  const series = useWhileRunning(
    () => call(client.GET('/api/experiments/{id}/series', { params: { path: { id }, query: { points: 800 } } })),
    running,
    logKey,
  );
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
      {!e.masked && (
        <div className="grid-2">
          <SubmittedScript experiment={e} />
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
          <p className="muted small">
            {series.data.total_rows} rows of {series.data.file}
            {series.data.total_rows > series.data.rows.length ? ` (showing ${series.data.rows.length})` : ''}
          </p>
          <SampleCharts samples={series.data.rows} />
        </>
      ) : (
        <p className="muted">{series.error ? `No CSV yet: ${series.error}` : 'Loading…'}</p>
      )}
    </div>
  );
}
