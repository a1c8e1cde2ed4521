// What kind of experiment a row is, in the lists and on its page: a program (the node runs it itself) rather than a
// script, and a pre-flight on the twin with its speed-up and, once known, its verdict.
import type { WebExperiment } from '@bioreactor/api';

export function preflightWords(preflight: NonNullable<WebExperiment['preflight']>): string {
  const verdict = preflight.passed === null ? '' : preflight.passed ? ': passed' : ': failed';
  return `pre-flight ${preflight.time_scale}×${verdict}`;
}

export function ExperimentTags({ experiment }: { experiment: Pick<WebExperiment, 'kind' | 'preflight'> }) {
  const { kind, preflight } = experiment;
  if (kind !== 'program' && !preflight) return null;
  return (
    <span className="labels" data-testid="experiment-tags">
      {kind === 'program' && (
        <span className="badge badge-program" data-testid="tag-program">
          program
        </span>
      )}
      {preflight && (
        <span
          className="badge badge-preflight"
          data-testid="tag-preflight"
          title="Runs on the simulation twin at accelerated time; its report says what the culture would have seen"
        >
          {preflightWords(preflight)}
        </span>
      )}
    </span>
  );
}
