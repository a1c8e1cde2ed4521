// Write or load a script, with the hub's own checks as you type (debounced) and on "Check"; problems are marked at
// their lines. The draft is kept in this browser as you type and restored on return. "Check and queue" sends it
// with a fresh Idempotency-Key per click, so a retried request never queues it twice. /upload?from=<id> starts from
// a submitted experiment's script ("Edit and resubmit").
import type { NodeInfo, ScriptCheck } from '@bioreactor/api';
import { type ChangeEvent, type FormEvent, useEffect, useRef, useState } from 'react';
import { ApiFailure, call, client, errorText } from '../api.js';
import { readinessOf } from '../components/node-readiness.js';
import { type LineProblem, ScriptEditor } from '../components/script-editor.js';
import { clearDraft, loadDraft, newIdempotencyKey, saveDraft } from '../drafts.js';
import { formatDuration, formatTime, relativeStart } from '../format.js';
import { useLiveResource } from '../hub-events.js';
import { Link } from '../router.js';

interface SubmitResult {
  experiment_id: string;
  queue_position: number;
  estimated_start: string | null;
  message: string;
  /** The reactor asked for (null: any). */
  node?: string | null;
}

/** Checks wait this long after the last keystroke. */
const CHECK_DELAY_MS = 700;
/** Drafts are written this long after the last keystroke. */
const SAVE_DELAY_MS = 250;

export const EXAMPLE_SCRIPT = `from bioreactor_client import Bioreactor, measure_all_data, write_data_to_csv
import time

bioreactor = Bioreactor()
max_duration = 300  # 5 minutes
interval = 10       # Measure every 10 seconds

start_time = time.time()
next_measurement_time = start_time

while True:
    current_time = time.time()
    elapsed = current_time - start_time

    if elapsed >= max_duration:
        break

    if current_time >= next_measurement_time:
        # Get all sensors + control states
        data = measure_all_data(bioreactor, include_controls=True)
        write_data_to_csv(data)

        print(f"CO2: {data.get('co2_ppm')} ppm")
        print(f"Temperature: {data.get('temperature')}°C")

        next_measurement_time += interval

    time.sleep(0.1)

print("Experiment complete!")
`;

type CheckState =
  | { kind: 'idle' }
  | { kind: 'checking' }
  | { kind: 'done'; result: ScriptCheck }
  | { kind: 'failed'; message: string };

function minutesToSeconds(text: string): number | undefined | null {
  if (!text.trim()) return undefined;
  const minutes = Number(text);
  if (!Number.isFinite(minutes) || minutes <= 0) return null;
  return Math.max(1, Math.round(minutes * 60));
}

/** The reactor a run goes to: any (the queue gives it to the first node free), or one the user names. */
function ReactorPicker({
  nodes,
  value,
  onChange,
}: {
  nodes: NodeInfo[] | undefined;
  value: string;
  onChange: (node: string) => void;
}) {
  const chosen = nodes?.find((n) => n.name === value);
  const readiness = chosen ? readinessOf(chosen) : undefined;
  return (
    <label>
      <span>Reactor</span>
      <select value={value} onChange={(e) => onChange(e.target.value)} data-testid="upload-node">
        <option value="">Any reactor (the queue decides)</option>
        {(nodes ?? []).map((n) => (
          <option key={n.name} value={n.name}>
            {n.name}: {readinessOf(n).words}
          </option>
        ))}
        {value && !chosen && <option value={value}>{value} (not among the hub’s nodes now)</option>}
      </select>
      {readiness && readiness.tone !== 'ok' && (
        <span className="small inline-error" data-testid="upload-node-warning">
          {value} is {readiness.words}
          {readiness.reason ? ` (${readiness.reason})` : ''}: the experiment waits for it.
        </span>
      )}
    </label>
  );
}

export function UploadPage() {
  const from = new URLSearchParams(window.location.search).get('from') ?? undefined;
  // Restored once, before the first render: a reload or a visit to another page loses nothing.
  const [initial] = useState(() => (from ? undefined : loadDraft()));
  const [script, setScript] = useState(initial?.script ?? '');
  const [fileName, setFileName] = useState<string>();
  const [name, setName] = useState(initial?.name ?? '');
  const [maxMinutes, setMaxMinutes] = useState(initial?.maxMinutes ?? '');
  const [node, setNode] = useState('');
  const nodes = useLiveResource(() => call(client.GET('/api/nodes')), 'nodes');
  const [restored, setRestored] = useState(initial?.script.trim() ? initial.savedAt : undefined);
  const [loadedFrom, setLoadedFrom] = useState<string | undefined>(initial?.from);
  const [problems, setProblems] = useState<LineProblem[]>([]);
  const [check, setCheck] = useState<CheckState>({ kind: 'idle' });
  const [error, setError] = useState<string>();
  const [result, setResult] = useState<SubmitResult>();
  const [busy, setBusy] = useState(false);
  const [draftWarning, setDraftWarning] = useState(false);
  const checkSeq = useRef(0);
  /** The script just queued: not saved again as a draft by a save still pending from the last keystrokes. */
  const queued = useRef<string | undefined>(undefined);

  // Edit and resubmit: the experiment's own script, name and maximum duration.
  useEffect(() => {
    if (!from) return;
    call(client.GET('/api/experiments/{id}/script', { params: { path: { id: from } } })).then(
      (s) => {
        setScript(s.script_content);
        setName(s.name ?? '');
        setMaxMinutes(
          s.max_duration_source === 'declared' ? String(Math.round((s.max_duration_s / 60) * 100) / 100) : '',
        );
        setLoadedFrom(from);
        setRestored(undefined);
      },
      (err: unknown) => setError(`Could not load the experiment’s script: ${errorText(err)}`),
    );
  }, [from]);

  // The draft, saved as it is typed.
  useEffect(() => {
    const t = setTimeout(() => {
      // Queued as it is: nothing to keep (a save still pending from the last keystrokes must not bring it back).
      if (queued.current === script) return;
      setDraftWarning(!saveDraft({ script, name, maxMinutes, from: loadedFrom }));
    }, SAVE_DELAY_MS);
    return () => clearTimeout(t);
  }, [script, name, maxMinutes, loadedFrom]);

  const runCheck = async (): Promise<ScriptCheck | undefined> => {
    const seq = ++checkSeq.current;
    if (!script.trim()) {
      setCheck({ kind: 'idle' });
      setProblems([]);
      return undefined;
    }
    const seconds = minutesToSeconds(maxMinutes);
    setCheck({ kind: 'checking' });
    try {
      const res = await call(
        client.POST('/api/experiments/check', {
          body: { script_content: script, ...(typeof seconds === 'number' ? { max_duration_s: seconds } : {}) },
        }),
      );
      if (seq !== checkSeq.current) return undefined;
      setCheck({ kind: 'done', result: res });
      setProblems(res.problems);
      return res;
    } catch (err) {
      if (seq !== checkSeq.current) return undefined;
      setCheck({ kind: 'failed', message: errorText(err) });
      return undefined;
    }
  };
  const runCheckRef = useRef(runCheck);
  runCheckRef.current = runCheck;

  // Live checking: the hub's own validator, a moment after the last change.
  // biome-ignore lint/correctness/useExhaustiveDependencies: re-checks when the script or the duration changes
  useEffect(() => {
    const t = setTimeout(() => void runCheckRef.current(), CHECK_DELAY_MS);
    return () => clearTimeout(t);
  }, [script, maxMinutes]);

  const chooseFile = async (event: ChangeEvent<HTMLInputElement>) => {
    const file = event.target.files?.[0];
    if (!file) return;
    setError(undefined);
    setProblems([]);
    if (!/\.py$/i.test(file.name)) {
      setError(`"${file.name}" is not a Python file: choose a file ending in .py`);
      return;
    }
    setFileName(file.name);
    setScript(await file.text());
    setLoadedFrom(undefined);
    setRestored(undefined);
    if (!name) setName(file.name.replace(/\.py$/i, ''));
  };

  const discard = () => {
    clearDraft();
    setScript('');
    setName('');
    setMaxMinutes('');
    setLoadedFrom(undefined);
    setRestored(undefined);
    setProblems([]);
    setCheck({ kind: 'idle' });
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(undefined);
    setResult(undefined);
    if (script.trim() === '') {
      setError('Choose a .py file or write a script first.');
      return;
    }
    const body: { script_content: string; name?: string; max_duration_s?: number; node?: string } = {
      script_content: script,
    };
    if (name.trim()) body.name = name.trim();
    // Unset: any reactor; the hub keeps a named one's experiment for that node alone.
    if (node) body.node = node;
    const seconds = minutesToSeconds(maxMinutes);
    if (seconds === null) {
      setError('Maximum duration must be a positive number of minutes.');
      return;
    }
    if (seconds !== undefined) body.max_duration_s = seconds;
    setBusy(true);
    try {
      // One key per click: a retry of this request by the browser or a proxy never queues the script twice.
      const key = newIdempotencyKey();
      const res = await call(
        client.POST('/api/experiments/upload', { body, params: { header: { 'idempotency-key': key } } }),
      );
      setResult({ ...res, node: node || null });
      setProblems([]);
      queued.current = script;
      clearDraft();
      setRestored(undefined);
    } catch (err) {
      if (err instanceof ApiFailure && err.problems.length > 0) setProblems(err.problems);
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  const lineProblems = problems.filter((p) => p.line !== undefined);
  const otherProblems = problems.filter((p) => p.line === undefined);
  return (
    <div className="page">
      <div className="page-head">
        <h1>Upload an experiment</h1>
        <p className="muted">
          Your script runs in an isolated container next to the bioreactor, one experiment at a time. It is checked as
          you type and again before it joins the queue: syntax, imports (standard library, numpy, pandas, scipy,
          matplotlib, scikit-learn, requests, pillow and <code>bioreactor_client</code>) and size (1 MiB).
        </p>
      </div>
      {result && (
        <div className="notice notice-ok" data-testid="upload-result" role="status">
          <h2>Queued</h2>
          <dl className="facts">
            <dt>Experiment</dt>
            <dd>
              <Link href={`/experiment/${result.experiment_id}`} data-testid="upload-experiment-id">
                {result.experiment_id}
              </Link>
            </dd>
            <dt>Queue position</dt>
            <dd data-testid="upload-position">{result.queue_position}</dd>
            <dt>Reactor</dt>
            <dd data-testid="upload-result-node">{result.node ?? 'any (the queue decides)'}</dd>
            <dt>Estimated start</dt>
            <dd>
              {formatTime(result.estimated_start)} ({relativeStart(result.estimated_start)})
            </dd>
          </dl>
          <p>{result.message}</p>
          <p>
            <Link href="/my-experiments">Follow it in My experiments</Link> · <Link href="/queue">See the queue</Link>
          </p>
        </div>
      )}
      {restored !== undefined && (
        <div className="notice notice-warn" role="status" data-testid="draft-restored">
          Your draft from {formatTime(new Date(restored).toISOString())} is back, as you left it.{' '}
          <button type="button" className="btn btn-small" onClick={discard} data-testid="draft-discard">
            Discard it
          </button>
        </div>
      )}
      {loadedFrom && (
        <p className="muted small" data-testid="loaded-from">
          Started from the script of experiment <Link href={`/experiment/${loadedFrom}`}>{loadedFrom.slice(0, 8)}</Link>
          : edit it and queue it as a new experiment.
        </p>
      )}
      <form className="card upload-form" onSubmit={submit}>
        <div className="row">
          <label className="file-drop">
            <input type="file" accept=".py,text/x-python" onChange={chooseFile} data-testid="upload-file" />
            <span>{fileName ? `Loaded ${fileName}` : 'Choose a .py file'}</span>
          </label>
          <span className="muted">or write it below</span>
          <button type="button" className="btn btn-ghost" onClick={() => setScript(EXAMPLE_SCRIPT)}>
            Insert the example script
          </button>
        </div>
        <ScriptEditor value={script} onChange={setScript} problems={lineProblems} />
        <div className="row">
          <span className="check-status" role="status" aria-live="polite" data-testid="check-status">
            {check.kind === 'checking' && <span className="muted">Checking…</span>}
            {check.kind === 'done' &&
              (check.result.valid ? (
                <span className="check-ok">
                  ✓ No problems found
                  {check.result.max_duration_s
                    ? `; it may run up to ${formatDuration(check.result.max_duration_s)}`
                    : ''}
                </span>
              ) : (
                <span className="inline-error">
                  {check.result.problems.length} problem{check.result.problems.length === 1 ? '' : 's'}: see the marked
                  lines
                </span>
              ))}
            {check.kind === 'failed' && <span className="inline-error">Could not check: {check.message}</span>}
            {check.kind === 'idle' && <span className="muted">Checked as you type.</span>}
          </span>
          <span className="muted small" data-testid="draft-state">
            {draftWarning
              ? 'This browser does not keep drafts (private mode?)'
              : script.trim()
                ? 'Draft saved in this browser'
                : ''}
          </span>
        </div>
        {check.kind === 'done' && check.result.problems.length > 0 && (
          <ul className="problems" data-testid="check-problems">
            {check.result.problems.map((p) => (
              <li key={`${p.line}:${p.column}:${p.field}:${p.message}`}>
                {p.line !== undefined && <span className="line-ref">line {p.line}</span>} {p.message}
              </li>
            ))}
          </ul>
        )}
        <div className="row fields">
          <label>
            <span>
              Name <span className="muted">(optional)</span>
            </span>
            <input
              value={name}
              onChange={(e) => setName(e.target.value)}
              maxLength={200}
              placeholder="Growth curve, run 3"
              data-testid="upload-name"
            />
          </label>
          <label>
            <span>
              Maximum duration, minutes <span className="muted">(optional)</span>
            </span>
            <input
              value={maxMinutes}
              onChange={(e) => setMaxMinutes(e.target.value)}
              inputMode="decimal"
              placeholder="60"
              data-testid="upload-max-duration"
            />
          </label>
          <ReactorPicker nodes={nodes.data?.nodes} value={node} onChange={setNode} />
        </div>
        {error && (
          <div className="notice notice-error" role="alert" data-testid="upload-error">
            <strong>{error}</strong>
            {problems.length > 0 && (
              <ul className="problems" data-testid="upload-problems">
                {[...lineProblems, ...otherProblems].map((p) => (
                  <li key={`${p.line}:${p.column}:${p.message}`}>
                    {p.line !== undefined && <span className="line-ref">line {p.line}</span>} {p.message}
                  </li>
                ))}
              </ul>
            )}
          </div>
        )}
        <div className="row">
          <button type="button" className="btn" onClick={() => void runCheck()} data-testid="upload-check">
            Check
          </button>
          <button type="submit" className="btn btn-primary" disabled={busy} data-testid="upload-submit">
            {busy ? 'Checking…' : 'Check and queue'}
          </button>
        </div>
      </form>
    </div>
  );
}
