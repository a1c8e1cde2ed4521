// The coloured state pill used wherever an experiment's state shows.
import type { ExperimentState } from '@bioreactor/api';

const LABELS: Record<ExperimentState, string> = {
  queued: 'Queued',
  running: 'Running',
  paused: 'Paused',
  completed: 'Completed',
  failed: 'Failed',
  cancelled: 'Cancelled',
  interrupted: 'Interrupted',
};

export function StatusBadge({ status }: { status: ExperimentState }) {
  return (
    <span className={`badge badge-${status}`} data-testid="status-badge" data-status={status}>
      {status === 'running' && <span className="pulse" aria-hidden="true" />}
      {LABELS[status] ?? status}
    </span>
  );
}
