// What went wrong with a run, in one line: its exception and where it was raised (from the web server's summary of
// the error message), with the whole message on the experiment page.
import type { WebExperiment } from '@bioreactor/api';

export function FailureLine({ experiment }: { experiment: WebExperiment }) {
  const f = experiment.failure;
  if (!f) return null;
  if (!f.exception)
    return (
      <div className="failure-line" data-testid="failure-summary" title={experiment.error_message ?? undefined}>
        {f.summary}
      </div>
    );
  return (
    <div className="failure-line" data-testid="failure-summary" title={experiment.error_message ?? undefined}>
      <strong>{f.exception}</strong>
      {f.message ? `: ${f.message}` : ''}
      {f.line !== null && (
        <span className="where">
          {' '}
          (line {f.line}
          {f.function ? `, in ${f.function}` : ''})
        </span>
      )}
    </div>
  );
}

/** The summary, then the whole message (the traceback) folded away. */
export function FailureDetails({ experiment }: { experiment: WebExperiment }) {
  if (!experiment.error_message) return null;
  const rest = experiment.error_message.split('\n').slice(1).join('\n').trim();
  return (
    <div className="notice notice-error" data-testid="failure-details">
      <FailureLine experiment={experiment} />
      {experiment.exit_code !== null && <div className="small">Exit code {experiment.exit_code}</div>}
      {rest && (
        <details>
          <summary>Traceback</summary>
          {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling box must be reachable by keyboard (WCAG 2.1.1) */}
          <pre className="error-box" tabIndex={0}>
            {rest}
          </pre>
        </details>
      )}
    </div>
  );
}
