// This browser's (or account's) experiments, live: state, timing, actions, downloads.
import type { WebExperiment } from '@bioreactor/api';
import { call, client } from '../api.js';
import { ExperimentActions } from '../components/experiment-actions.js';
import { StatusBadge } from '../components/status-badge.js';
import { elapsedSeconds, formatDuration, formatTime } from '../format.js';
import { useLiveResource } from '../hub-events.js';
import { Link } from '../router.js';
import { useSession } from '../session.js';

export function experimentLabel(e: WebExperiment): string {
  return e.name ? e.name : e.masked ? `${e.experiment_id}…` : e.experiment_id.slice(0, 8);
}

export function MyExperimentsPage() {
  const { isAdmin, session } = useSession();
  const { data, error, reload } = useLiveResource(
    () => call(client.GET('/api/experiments/mine')),
    session?.user?.username ?? '',
  );
  const experiments = data?.experiments ?? [];
  return (
    <div className="page">
      <div className="page-head">
        <h1>My experiments</h1>
        <p className="muted">
          {session?.user
            ? `Experiments of ${session.user.username}, on any browser you sign in from.`
            : 'Experiments submitted from this browser. Sign in to see them from any browser.'}
        </p>
      </div>
      {error && <div className="notice notice-error">{error}</div>}
      {data && experiments.length === 0 && (
        <div className="card empty">
          <p>No experiments yet.</p>
          <Link href="/upload" className="btn btn-primary">
            Upload a script
          </Link>
        </div>
      )}
      {experiments.length > 0 && (
        <div className="table-wrap card">
          <table className="table stack-sm" data-testid="my-experiments">
            <thead>
              <tr>
                <th>Experiment</th>
                <th>Status</th>
                <th className="hide-sm">Position</th>
                <th className="hide-sm">Created</th>
                <th className="hide-sm">Started</th>
                <th className="hide-sm">Run time</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {experiments.map((e) => (
                <tr key={e.experiment_id} data-testid="experiment-row" data-experiment-id={e.experiment_id}>
                  <td>
                    <Link href={`/experiment/${e.experiment_id}`}>{experimentLabel(e)}</Link>
                    {e.name && <div className="muted mono small">{e.experiment_id.slice(0, 8)}</div>}
                  </td>
                  <td>
                    <StatusBadge status={e.status} />
                    {e.error_message && e.status === 'failed' && (
                      <div className="small error-text" title={e.error_message}>
                        {e.error_message.split('\n')[0]?.slice(0, 80)}
                      </div>
                    )}
                  </td>
                  <td className="hide-sm">{e.queue_position ?? '—'}</td>
                  <td className="hide-sm">{formatTime(e.created_at)}</td>
                  <td className="hide-sm">{formatTime(e.started_at)}</td>
                  <td className="hide-sm">{formatDuration(elapsedSeconds(e.started_at, e.completed_at))}</td>
                  <td className="cell-actions">
                    <ExperimentActions experiment={e} isAdmin={isAdmin} onDone={reload} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
