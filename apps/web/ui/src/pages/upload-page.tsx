// Upload a .py file or write a script; the hub's validation problems show at their lines before anything queues.
import { type ChangeEvent, type FormEvent, useState } from 'react';
import { ApiFailure, call, client, errorText } from '../api.js';
import { type LineProblem, ScriptEditor } from '../components/script-editor.js';
import { formatTime, relativeStart } from '../format.js';
import { Link } from '../router.js';

interface SubmitResult {
  experiment_id: string;
  queue_position: number;
  estimated_start: string | null;
  message: string;
}

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

export function UploadPage() {
  const [script, setScript] = useState('');
  const [fileName, setFileName] = useState<string>();
  const [name, setName] = useState('');
  const [maxMinutes, setMaxMinutes] = useState('');
  const [problems, setProblems] = useState<LineProblem[]>([]);
  const [error, setError] = useState<string>();
  const [result, setResult] = useState<SubmitResult>();
  const [busy, setBusy] = useState(false);

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
    if (!name) setName(file.name.replace(/\.py$/i, ''));
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(undefined);
    setProblems([]);
    setResult(undefined);
    if (script.trim() === '') {
      setError('Choose a .py file or write a script first.');
      return;
    }
    const body: { script_content: string; name?: string; max_duration_s?: number } = { script_content: script };
    if (name.trim()) body.name = name.trim();
    if (maxMinutes.trim()) {
      const minutes = Number(maxMinutes);
      if (!Number.isFinite(minutes) || minutes <= 0) {
        setError('Maximum duration must be a positive number of minutes.');
        return;
      }
      body.max_duration_s = Math.max(1, Math.round(minutes * 60));
    }
    setBusy(true);
    try {
      setResult(await call(client.POST('/api/experiments/upload', { body })));
    } catch (err) {
      if (err instanceof ApiFailure && err.problems.length > 0) setProblems(err.problems);
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="page">
      <div className="page-head">
        <h1>Upload an experiment</h1>
        <p className="muted">
          Your script runs in an isolated container next to the bioreactor, one experiment at a time. It is checked
          before it joins the queue: syntax, imports (standard library, numpy, pandas, scipy, matplotlib, scikit-learn,
          requests, pillow and <code>bioreactor_client</code>) and size (1 MiB).
        </p>
      </div>
      {result && (
        <div className="notice notice-ok" data-testid="upload-result">
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
            <dt>Estimated start</dt>
            <dd>
              {formatTime(result.estimated_start)} ({relativeStart(result.estimated_start)})
            </dd>
          </dl>
          <p>
            <Link href="/my-experiments">Follow it in My experiments</Link> · <Link href="/queue">See the queue</Link>
          </p>
        </div>
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
        <ScriptEditor value={script} onChange={setScript} problems={problems} />
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
        </div>
        {error && (
          <div className="notice notice-error" role="alert" data-testid="upload-error">
            <strong>{error}</strong>
            {problems.length > 0 && (
              <ul className="problems" data-testid="upload-problems">
                {problems.map((p) => (
                  <li key={`${p.line}:${p.column}:${p.message}`}>
                    {p.line !== undefined && <span className="line-ref">line {p.line}</span>} {p.message}
                  </li>
                ))}
              </ul>
            )}
          </div>
        )}
        <div className="row">
          <button type="submit" className="btn btn-primary" disabled={busy} data-testid="upload-submit">
            {busy ? 'Checking…' : 'Check and queue'}
          </button>
        </div>
      </form>
    </div>
  );
}
