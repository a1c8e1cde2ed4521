// Write or load a script, with the hub's own checks as you type (debounced) and on "Check"; problems are marked at
// their lines. The draft is kept in this browser as you type and restored on return. "Check and queue" sends it
// with a fresh Idempotency-Key per click, so a retried request never queues it twice. /upload?from=<id> starts from
// a submitted experiment's script ("Edit and resubmit").
// A program (JSON or YAML, docs/programs.md) is written in the same editor; its timeline is drawn as it is typed (the
// hub and a node check it, POST /api/programs/preview), its problems listed at their paths. Either kind may go first
// to the simulation twin as a pre-flight at a chosen speed-up (docs/preflight.md).
import type { NodeInfo, Problem, ProgramPreview, ScriptCheck } from '@bioreactor/api';
import { type ChangeEvent, type FormEvent, useEffect, useRef, useState } from 'react';
import { ApiFailure, call, client, errorText } from '../api.js';
import { readinessOf } from '../components/node-readiness.js';
import { ProgramTimelineChart } from '../components/program-timeline.js';
import { ScriptEditor } from '../components/script-editor.js';
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
  /** A pre-flight's speed-up; null for a run. */
  preflight?: number | null;
}

/** Checks wait this long after the last keystroke. */
const CHECK_DELAY_MS = 700;
/** Drafts are written this long after the last keystroke. */
const SAVE_DELAY_MS = 250;
/** A pre-flight's speed-up unless the user picks another (the hub's default too). */
const DEFAULT_TIME_SCALE = 60;
/** How far the preview expands a program, in hours. */
const PREVIEW_SPANS = [
  { hours: 24, label: 'first day' },
  { hours: 72, label: 'first 3 days' },
  { hours: 240, label: 'first 10 days' },
  { hours: 960, label: 'first 40 days' },
];
/** A pre-flight's speed-up is described with a run this long when the form gives no duration. */
const EXAMPLE_RUN_S = 24 * 3600;

export const EXAMPLE_PROGRAM = `# Three days: 12 h light and 12 h dark, stirring, 30 °C then 37 °C from day 1.
name: day and night
tracks:
  - component: ring_light
    repeat: 3
    steps:
      - { duration: 12h, set: { red: 255, green: 180, blue: 120 } }
      - { duration: 12h, set: { red: 0, green: 0, blue: 0 } }
  - component: stirrer
    steps:
      - { duration: 3d, set: { duty_cycle: 40 } }
automations:
  - kind: thermostat
    setpoint_c: 30
    schedule:
      - { at: 1d, setpoint_c: 37 }
limits:
  duration: 3d
  max_temperature_c: 40
`;

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

type PreviewState =
  | { kind: 'idle' }
  | { kind: 'checking'; last?: ProgramPreview | undefined }
  | { kind: 'done'; result: ProgramPreview }
  | { kind: 'failed'; message: string };

/** A problem where it is: its line (a YAML or script line), else its path in the document (said once). */
function ProblemItem({ p }: { p: Problem }) {
  const path = p.line === undefined ? p.field : undefined;
  const message = path && p.message.startsWith(path) ? p.message.slice(path.length).replace(/^:\s*/, '') : p.message;
  return (
    <>
      {p.line !== undefined && <span className="line-ref">line {p.line}</span>}{' '}
      {path && (
        <code className="line-ref" data-testid="problem-path">
          {path}
        </code>
      )}{' '}
      {message}
    </>
  );
}

/**
 * The pre-flight choice: run it first on the simulation twin at a speed-up, which the form turns into wall time for
 * the run's length. Offered only when a twin node is among the hub's nodes (its `twin`).
 */
function PreflightOption({
  nodes,
  on,
  onToggle,
  scale,
  onScale,
  durationS,
}: {
  nodes: NodeInfo[] | undefined;
  on: boolean;
  onToggle: (on: boolean) => void;
  scale: string;
  onScale: (text: string) => void;
  durationS: number | undefined;
}) {
  const twins = (nodes ?? []).filter((n) => n.twin);
  const max = Math.max(0, ...twins.map((n) => n.twin?.max_time_scale ?? 0));
  const value = Number(scale);
  const valid = Number.isInteger(value) && value >= 1 && value <= (max || 3600);
  const run = durationS ?? EXAMPLE_RUN_S;
  return (
    <fieldset className="preflight-option" data-testid="preflight-option">
      <legend className="visually-hidden">Pre-flight</legend>
      <label className="check-line">
        <input
          type="checkbox"
          checked={on && twins.length > 0}
          disabled={twins.length === 0}
          onChange={(e) => onToggle(e.target.checked)}
          data-testid="upload-preflight"
          aria-describedby="preflight-help"
        />
        <span>Pre-flight on the twin first</span>
      </label>
      {on && twins.length > 0 && (
        <label>
          <span>Speed-up (×)</span>
          <input
            type="number"
            min={1}
            max={max || 3600}
            step={1}
            value={scale}
            onChange={(e) => onScale(e.target.value)}
            aria-invalid={!valid}
            data-testid="upload-time-scale"
          />
        </label>
      )}
      <p id="preflight-help" className="muted small" data-testid="preflight-help">
        {nodes === undefined
          ? 'Looking for a twin node…'
          : twins.length === 0
            ? 'No twin node is among this lab’s reactors, so a pre-flight cannot run here.'
            : on && !valid
              ? `The speed-up must be a whole number from 1 to ${max || 3600}.`
              : `It runs on ${twins.length === 1 ? 'the simulation twin' : 'a simulation twin'} (${twins.map((n) => n.name).join(' or ')}) with its time sped up, and its report says what the culture would have seen. At ${on && valid ? value : DEFAULT_TIME_SCALE}×, ${durationS ? 'this' : 'a'} ${formatDuration(run)} run takes ${formatDuration(run / (on && valid ? value : DEFAULT_TIME_SCALE))}.`}
      </p>
    </fieldset>
  );
}

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
  const [kind, setKind] = useState<'script' | 'program'>(
    new URLSearchParams(window.location.search).get('kind') === 'program' ? 'program' : (initial?.kind ?? 'script'),
  );
  const [program, setProgram] = useState(initial?.program ?? '');
  const [preview, setPreview] = useState<PreviewState>({ kind: 'idle' });
  const [previewHours, setPreviewHours] = useState(240);
  const [preflight, setPreflight] = useState(false);
  const [timeScale, setTimeScale] = useState(String(DEFAULT_TIME_SCALE));
  const previewSeq = useRef(0);
  const [fileName, setFileName] = useState<string>();
  const [name, setName] = useState(initial?.name ?? '');
  const [maxMinutes, setMaxMinutes] = useState(initial?.maxMinutes ?? '');
  const [node, setNode] = useState('');
  const nodes = useLiveResource(() => call(client.GET('/api/nodes')), 'nodes');
  const twinCount = (nodes.data?.nodes ?? []).filter((n) => n.twin).length;
  const [restored, setRestored] = useState(
    initial?.script.trim() || initial?.program?.trim() ? initial.savedAt : undefined,
  );
  const [loadedFrom, setLoadedFrom] = useState<string | undefined>(initial?.from);
  const [problems, setProblems] = useState<Problem[]>([]);
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
        if (s.kind === 'program' && s.program) {
          setKind('program');
          setProgram(JSON.stringify(s.program, null, 2));
        } else {
          setKind('script');
          setScript(s.script_content);
        }
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
      if (queued.current === (kind === 'program' ? program : script)) return;
      setDraftWarning(!saveDraft({ script, kind, program, name, maxMinutes, from: loadedFrom }));
    }, SAVE_DELAY_MS);
    return () => clearTimeout(t);
  }, [script, kind, program, name, maxMinutes, loadedFrom]);

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
    if (kind !== 'script') return;
    const t = setTimeout(() => void runCheckRef.current(), CHECK_DELAY_MS);
    return () => clearTimeout(t);
  }, [script, maxMinutes, kind]);

  /** The program checked by the hub and a node, and its timeline; the last good chart stays while it is checked. */
  const runPreview = async (): Promise<ProgramPreview | undefined> => {
    const seq = ++previewSeq.current;
    if (!program.trim()) {
      setPreview({ kind: 'idle' });
      return undefined;
    }
    setPreview((prev) => ({
      kind: 'checking',
      last: prev.kind === 'done' ? prev.result : prev.kind === 'checking' ? prev.last : undefined,
    }));
    try {
      const res = await call(
        client.POST('/api/programs/preview', { body: { program }, params: { query: { hours: previewHours } } }),
      );
      if (seq !== previewSeq.current) return undefined;
      setPreview({ kind: 'done', result: res });
      return res;
    } catch (err) {
      if (seq !== previewSeq.current) return undefined;
      setPreview({ kind: 'failed', message: errorText(err) });
      return undefined;
    }
  };
  const runPreviewRef = useRef(runPreview);
  runPreviewRef.current = runPreview;

  // The timeline as the program is typed, a moment after the last change.
  // biome-ignore lint/correctness/useExhaustiveDependencies: previews again when the program or the span changes
  useEffect(() => {
    if (kind !== 'program') return;
    const t = setTimeout(() => void runPreviewRef.current(), CHECK_DELAY_MS);
    return () => clearTimeout(t);
  }, [program, previewHours, kind]);

  const chooseFile = async (event: ChangeEvent<HTMLInputElement>) => {
    const file = event.target.files?.[0];
    if (!file) return;
    setError(undefined);
    setProblems([]);
    if (kind === 'program') {
      if (!/\.(ya?ml|json)$/i.test(file.name)) {
        setError(`"${file.name}" is not a program file: choose a file ending in .yaml, .yml or .json`);
        return;
      }
      setFileName(file.name);
      setProgram(await file.text());
      setLoadedFrom(undefined);
      setRestored(undefined);
      if (!name) setName(file.name.replace(/\.(ya?ml|json)$/i, ''));
      return;
    }
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
    setProgram('');
    setPreview({ kind: 'idle' });
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
    const text = kind === 'program' ? program : script;
    if (text.trim() === '') {
      setError(
        kind === 'program'
          ? 'Choose a .yaml or .json file or write a program first.'
          : 'Choose a .py file or write a script first.',
      );
      return;
    }
    const body: {
      script_content?: string;
      program?: string;
      name?: string;
      max_duration_s?: number;
      node?: string;
      preflight?: { time_scale: number };
    } = kind === 'program' ? { program } : { script_content: script };
    if (preflight && twinCount > 0) {
      const scale = Number(timeScale);
      if (!Number.isInteger(scale) || scale < 1) {
        setError('The pre-flight speed-up must be a whole number of at least 1.');
        return;
      }
      body.preflight = { time_scale: scale };
    }
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
      setResult({ ...res, node: node || null, preflight: body.preflight?.time_scale ?? null });
      setProblems([]);
      queued.current = text;
      clearDraft();
      setRestored(undefined);
    } catch (err) {
      if (err instanceof ApiFailure && err.problems.length > 0) setProblems(err.problems);
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  const shownPreview =
    preview.kind === 'done' ? preview.result : preview.kind === 'checking' ? preview.last : undefined;
  const previewProblems = preview.kind === 'done' ? preview.result.problems : [];
  // A program's YAML syntax error names its line; its other problems name their paths.
  const editorProblems =
    kind === 'program'
      ? [...previewProblems, ...problems].filter((p) => p.line !== undefined)
      : problems.filter((p) => p.line !== undefined);
  const lineProblems = problems.filter((p) => p.line !== undefined);
  const otherProblems = problems.filter((p) => p.line === undefined);
  const seconds = minutesToSeconds(maxMinutes);
  // How long the run lasts, for the pre-flight's wall time: the program's own end, else the maximum duration given.
  const runSeconds =
    kind === 'program' && shownPreview?.timeline?.end_s
      ? shownPreview.timeline.end_s
      : typeof seconds === 'number'
        ? seconds
        : undefined;
  const policyRefusal =
    error !== undefined && /pre-?flight/i.test(error) && !preflight && twinCount > 0 && problems.length === 0;
  return (
    <div className="page">
      <div className="page-head">
        <h1>Upload an experiment</h1>
        <p className="muted">
          A Python script runs in an isolated container next to the bioreactor, one experiment at a time. It is checked
          as you type and again before it joins the queue: syntax, imports (standard library, numpy, pandas, scipy,
          matplotlib, scikit-learn, requests, pillow and <code>bioreactor_client</code>) and size (1 MiB). A program
          (JSON or YAML: tracks of timed steps and automations such as a thermostat or a turbidostat) is run by the node
          itself; its timeline is drawn as you type.
        </p>
      </div>
      {result && (
        <div className="notice notice-ok" data-testid="upload-result" role="status">
          <h2>Queued{result.preflight ? ` as a pre-flight at ${result.preflight}×` : ''}</h2>
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
            <dd data-testid="upload-result-node">
              {result.preflight ? 'the simulation twin' : (result.node ?? 'any (the queue decides)')}
            </dd>
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
          Started from the {kind === 'program' ? 'program' : 'script'} of experiment{' '}
          <Link href={`/experiment/${loadedFrom}`}>{loadedFrom.slice(0, 8)}</Link>: edit it and queue it as a new
          experiment.
        </p>
      )}
      <form className="card upload-form" onSubmit={submit}>
        <fieldset className="kind-choice" data-testid="upload-kind">
          <legend>What to run</legend>
          <label>
            <input
              type="radio"
              name="kind"
              value="script"
              checked={kind === 'script'}
              onChange={() => {
                setKind('script');
                setFileName(undefined);
                setProblems([]);
              }}
              data-testid="kind-script"
            />
            Python script
          </label>
          <label>
            <input
              type="radio"
              name="kind"
              value="program"
              checked={kind === 'program'}
              onChange={() => {
                setKind('program');
                setFileName(undefined);
                setProblems([]);
              }}
              data-testid="kind-program"
            />
            Program (JSON or YAML)
          </label>
        </fieldset>
        <div className="row">
          <label className="file-drop">
            <input
              type="file"
              accept={kind === 'program' ? '.yaml,.yml,.json' : '.py,text/x-python'}
              onChange={chooseFile}
              data-testid="upload-file"
            />
            <span>
              {fileName
                ? `Loaded ${fileName}`
                : kind === 'program'
                  ? 'Choose a .yaml or .json file'
                  : 'Choose a .py file'}
            </span>
          </label>
          <span className="muted">or write it below</span>
          {kind === 'program' ? (
            <button
              type="button"
              className="btn btn-ghost"
              onClick={() => setProgram(EXAMPLE_PROGRAM)}
              data-testid="insert-example-program"
            >
              Insert the example program
            </button>
          ) : (
            <button type="button" className="btn btn-ghost" onClick={() => setScript(EXAMPLE_SCRIPT)}>
              Insert the example script
            </button>
          )}
        </div>
        {kind === 'program' ? (
          <ScriptEditor
            key="program"
            language="program"
            value={program}
            onChange={setProgram}
            problems={editorProblems}
          />
        ) : (
          <ScriptEditor key="script" value={script} onChange={setScript} problems={editorProblems} />
        )}
        {kind === 'script' ? (
          <>
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
                      {check.result.problems.length} problem{check.result.problems.length === 1 ? '' : 's'}: see the
                      marked lines
                    </span>
                  ))}
                {check.kind === 'failed' && <span className="inline-error">Could not check: {check.message}</span>}
                {check.kind === 'idle' && <span className="muted">Checked as you type.</span>}
              </span>
              <DraftState warning={draftWarning} text={script} />
            </div>
            {check.kind === 'done' && check.result.problems.length > 0 && (
              <ul className="problems" data-testid="check-problems">
                {check.result.problems.map((p) => (
                  <li key={`${p.line}:${p.column}:${p.field}:${p.message}`}>
                    <ProblemItem p={p} />
                  </li>
                ))}
              </ul>
            )}
          </>
        ) : (
          <section aria-labelledby="preview-heading" data-testid="program-preview">
            <div className="row">
              <h2 id="preview-heading" className="small-heading">
                Timeline
              </h2>
              <label>
                <span className="visually-hidden">Preview span</span>
                <select
                  value={previewHours}
                  onChange={(e) => setPreviewHours(Number(e.target.value))}
                  data-testid="preview-hours"
                >
                  {PREVIEW_SPANS.map((o) => (
                    <option key={o.hours} value={o.hours}>
                      the {o.label}
                    </option>
                  ))}
                </select>
              </label>
              <span className="check-status" role="status" aria-live="polite" data-testid="preview-status">
                {preview.kind === 'idle' && <span className="muted">Drawn as you type.</span>}
                {preview.kind === 'checking' && <span className="muted">Checking…</span>}
                {preview.kind === 'failed' && (
                  <span className="inline-error">Could not preview: {preview.message}</span>
                )}
                {preview.kind === 'done' &&
                  (preview.result.valid ? (
                    <span className="check-ok">
                      ✓ {preview.result.message}
                      {preview.result.timeline?.end_s
                        ? `; it lasts ${formatDuration(preview.result.timeline.end_s)}`
                        : preview.result.timeline
                          ? '; it runs until stopped'
                          : ''}
                    </span>
                  ) : (
                    <span className="inline-error">
                      {preview.result.problems.length} problem{preview.result.problems.length === 1 ? '' : 's'}
                    </span>
                  ))}
              </span>
              <DraftState warning={draftWarning} text={program} />
            </div>
            {previewProblems.length > 0 && (
              <ul className="problems" data-testid="preview-problems">
                {previewProblems.map((p) => (
                  <li key={`${p.line}:${p.column}:${p.field}:${p.message}`} data-field={p.field ?? ''}>
                    <ProblemItem p={p} />
                  </li>
                ))}
              </ul>
            )}
            {shownPreview?.timeline && (
              <div aria-busy={preview.kind === 'checking'}>
                {preview.kind === 'done' && !preview.result.valid && (
                  <p className="muted small">The last valid timeline:</p>
                )}
                <ProgramTimelineChart timeline={shownPreview.timeline} />
              </div>
            )}
          </section>
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
              placeholder={kind === 'program' ? 'Day and night, run 3' : 'Growth curve, run 3'}
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
        <PreflightOption
          nodes={nodes.data?.nodes}
          on={preflight}
          onToggle={setPreflight}
          scale={timeScale}
          onScale={setTimeScale}
          durationS={runSeconds}
        />
        {error && (
          <div className="notice notice-error" role="alert" data-testid="upload-error">
            <strong>{error}</strong>
            {problems.length > 0 && (
              <ul className="problems" data-testid="upload-problems">
                {[...lineProblems, ...otherProblems].map((p) => (
                  <li key={`${p.line}:${p.column}:${p.field}:${p.message}`}>
                    <ProblemItem p={p} />
                  </li>
                ))}
              </ul>
            )}
            {policyRefusal && (
              <p>
                <button
                  type="button"
                  className="btn btn-small"
                  onClick={() => {
                    setPreflight(true);
                    setError(undefined);
                  }}
                  data-testid="choose-preflight"
                >
                  Run it as a pre-flight first
                </button>
              </p>
            )}
          </div>
        )}
        <div className="row">
          <button
            type="button"
            className="btn"
            onClick={() => void (kind === 'program' ? runPreview() : runCheck())}
            data-testid="upload-check"
          >
            Check
          </button>
          <button type="submit" className="btn btn-primary" disabled={busy} data-testid="upload-submit">
            {busy ? 'Checking…' : preflight && twinCount > 0 ? 'Check and queue the pre-flight' : 'Check and queue'}
          </button>
        </div>
      </form>
    </div>
  );
}

function DraftState({ warning, text }: { warning: boolean; text: string }) {
  return (
    <span className="muted small" data-testid="draft-state">
      {warning ? 'This browser does not keep drafts (private mode?)' : text.trim() ? 'Draft saved in this browser' : ''}
    </span>
  );
}
