// A pre-flight's report (GET /api/experiments/:id/preflight, relayed from the twin): the verdict and its reasons,
// what the culture would have seen (temperature range, volumes pumped), the safety's interlocks, cut-offs and refused
// commands, and the speed-up reached. The node writes it when the run ends, so it is asked for once the run is over.
import type { PreflightReport as Report, WebExperiment } from '@bioreactor/api';
import { useEffect, useState } from 'react';
import { call, client, errorText } from '../api.js';
import { formatDuration, formatNumber } from '../format.js';

const ml = (v: number) => `${formatNumber(v, 2)} mL`;
/** An experiment in one of these states has run its course: the node wrote the report if it ran at all. */
const OVER = ['completed', 'failed', 'cancelled', 'interrupted'];

export function PreflightReport({ experiment }: { experiment: WebExperiment }) {
  const id = experiment.experiment_id;
  const ended = OVER.includes(experiment.status) && experiment.started_at !== null;
  const [report, setReport] = useState<Report>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    if (!ended) return;
    let alive = true;
    call(client.GET('/api/experiments/{id}/preflight', { params: { path: { id } } })).then(
      (v) => {
        if (!alive) return;
        setReport(v.preflight);
        setError(undefined);
      },
      (err: unknown) => {
        if (alive) setError(errorText(err));
      },
    );
    return () => {
      alive = false;
    };
  }, [id, ended]);
  const scale = experiment.preflight?.time_scale;
  return (
    <section className="card" data-testid="preflight-report" aria-labelledby="preflight-heading">
      <h2 id="preflight-heading">Pre-flight on the twin{scale ? ` at ${scale}×` : ''}</h2>
      {!ended && OVER.includes(experiment.status) ? (
        <p className="muted">It never started on the twin, so it has no report.</p>
      ) : !ended ? (
        <p className="muted">
          It runs on the simulation twin at {scale ?? '?'}× the wall clock; the report is written when it ends.
        </p>
      ) : error ? (
        <p className="inline-error" role="alert">
          No report: {error}
        </p>
      ) : !report ? (
        <p className="muted">Loading the report…</p>
      ) : (
        <>
          <p
            className={report.passed ? 'preflight-passed' : 'preflight-failed'}
            data-testid="preflight-verdict"
            data-passed={String(report.passed)}
          >
            <strong>{report.passed ? '✓ Passed' : '✗ Did not pass'}</strong>
            {report.passed ? ': it completed, no safety limit was hit and no command was refused.' : ''}
          </p>
          {report.reasons.length > 0 && (
            <ul className="problems" data-testid="preflight-reasons">
              {report.reasons.map((r) => (
                <li key={r}>{r}</li>
              ))}
            </ul>
          )}
          <dl className="facts">
            <dt>Speed-up</dt>
            <dd data-testid="preflight-scale">
              {report.time_scale}× asked, {formatNumber(report.achieved_time_scale, 1)}× reached
            </dd>
            <dt>Simulated time</dt>
            <dd data-testid="preflight-simulated">
              {formatDuration(report.simulated_duration_s)} (in {formatDuration(report.wall_duration_s)} of wall time)
            </dd>
            <dt>Temperature</dt>
            <dd data-testid="preflight-temperature">
              {report.temperature
                ? `${formatNumber(report.temperature.min_c, 2)} to ${formatNumber(report.temperature.max_c, 2)} °C, mean ${formatNumber(report.temperature.mean_c, 2)} °C (${report.temperature.samples} samples${report.temperature.invalid_samples ? `, ${report.temperature.invalid_samples} without a valid reading` : ''})`
                : 'no samples'}
            </dd>
            <dt>Pumped</dt>
            <dd data-testid="preflight-pumped">
              {ml(report.pumped_ml.total)} in total
              {Object.keys(report.pumped_ml.per_pump).length > 0 &&
                ` (${Object.entries(report.pumped_ml.per_pump)
                  .map(([pump, v]) => `${pump} ${ml(v)}`)
                  .join(', ')})`}
              <span className="muted small">
                {' '}
                · from {report.pumped_ml.source === 'counters' ? 'the pumps’ counters' : 'the actuator log'}
              </span>
            </dd>
            <dt>Interlocks</dt>
            <dd data-testid="preflight-interlocks">
              {report.safety.interlocks.length > 0 ? report.safety.interlocks.join('; ') : 'none'}
            </dd>
            <dt>Safety cut-offs</dt>
            <dd data-testid="preflight-cutoffs">
              {report.safety.cut_offs.length > 0
                ? report.safety.cut_offs.map((c) => `${c.component} at ${c.time}`).join('; ')
                : 'none'}
            </dd>
            <dt>Refused commands</dt>
            <dd data-testid="preflight-refused">{report.safety.refused_count || 'none'}</dd>
            <dt>Exit</dt>
            <dd data-testid="preflight-exit">
              {report.exit.status}
              {report.exit.exit_code !== null ? ` (code ${report.exit.exit_code})` : ''}
              {report.exit.exception ? `: ${report.exit.exception}` : ''}
              {report.exit.frame ? ` at ${report.exit.frame}` : ''}
            </dd>
          </dl>
          {report.safety.refused.length > 0 && (
            <details>
              <summary>The refused commands</summary>
              <ul className="problems" data-testid="preflight-refused-list">
                {report.safety.refused.map((r) => (
                  <li key={`${r.time}:${r.method}:${r.path}`}>
                    {r.time}: {r.method} {r.path}: {r.code}, {r.message}
                  </li>
                ))}
              </ul>
            </details>
          )}
        </>
      )}
    </section>
  );
}
