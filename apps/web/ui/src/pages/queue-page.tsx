// The whole active queue, live; owners act on their own experiments, admins on all of them (and reorder).
import type { WebExperiment } from '@bioreactor/api';
import { useState } from 'react';
import { call, client, errorText } from '../api.js';
import { ExperimentActions } from '../components/experiment-actions.js';
import { StatusBadge } from '../components/status-badge.js';
import { elapsedSeconds, formatDuration, formatTime, relativeStart } from '../format.js';
import { useLiveResource } from '../hub-events.js';
import { Link } from '../router.js';
import { useSession } from '../session.js';
import { experimentLabel } from './my-experiments-page.js';

function Stat({ label, value, testId }: { label: string; value: string | number; testId?: string }) {
  return (
    <div className="stat card" data-testid={testId}>
      <div className="stat-value">{value}</div>
      <div className="stat-label">{label}</div>
    </div>
  );
}

export function QueuePage() {
  const { isAdmin, session } = useSession();
  const { data, error, reload } = useLiveResource(() => call(client.GET('/api/queue')), session?.user?.username ?? '');
  const [actionError, setActionError] = useState<string>();
  const waiting = (data?.queue ?? []).filter((e) => e.queue_position !== null);

  const move = async (e: WebExperiment, delta: number) => {
    if (e.queue_position === null) return;
    const target = Math.max(0, Math.min(waiting.length - 1, e.queue_position - 1 + delta));
    setActionError(undefined);
    try {
      await call(
        client.POST('/api/experiments/{id}/reorder', {
          params: { path: { id: e.experiment_id }, query: { new_position: target } },
        }),
      );
      await reload();
    } catch (err) {
      setActionError(errorText(err));
    }
  };

  return (
    <div className="page">
      <div className="page-head">
        <h1>Queue</h1>
        <p className="muted">
          One experiment runs at a time, first in, first out; each user may have 5 waiting or running.
          {isAdmin ? ' You are signed in as admin: you can reorder, run next or cancel any experiment.' : ''}
        </p>
      </div>
      {error && <div className="notice notice-error">{error}</div>}
      {actionError && (
        <div className="notice notice-error" role="alert">
          {actionError}
        </div>
      )}
      <div className="stats">
        <Stat label="Running" value={data?.total_running ?? '—'} testId="stat-running" />
        <Stat label="Queued" value={data?.total_queued ?? '—'} testId="stat-queued" />
        <Stat label="Paused" value={data?.total_paused ?? '—'} />
        <Stat
          label="Estimated wait"
          value={data ? formatDuration(data.estimated_wait_minutes * 60) : '—'}
          testId="stat-wait"
        />
      </div>
      {data && data.queue.length === 0 && (
        <div className="card empty">
          <p>The queue is empty: a new experiment starts at once.</p>
          <Link href="/upload" className="btn btn-primary">
            Upload a script
          </Link>
        </div>
      )}
      {data && data.queue.length > 0 && (
        <div className="table-wrap card">
          <table className="table stack-sm" data-testid="queue-table">
            <thead>
              <tr>
                <th>#</th>
                <th>Experiment</th>
                <th className="hide-sm">Owner</th>
                <th>Status</th>
                <th className="hide-sm">Created</th>
                <th>Starts / running for</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {data.queue.map((e) => (
                <tr
                  key={e.experiment_id}
                  className={e.mine ? 'mine' : ''}
                  data-testid="queue-row"
                  data-experiment-id={e.experiment_id}
                  data-position={e.queue_position ?? ''}
                >
                  <td>{e.queue_position ?? '▶'}</td>
                  <td>
                    {e.masked ? (
                      <span className="mono" title="Another user's experiment">
                        {experimentLabel(e)}
                      </span>
                    ) : (
                      <Link href={`/experiment/${e.experiment_id}`}>{experimentLabel(e)}</Link>
                    )}
                  </td>
                  <td className="hide-sm">{e.mine ? <strong>you</strong> : e.owner}</td>
                  <td>
                    <StatusBadge status={e.status} />
                  </td>
                  <td className="hide-sm">{formatTime(e.created_at)}</td>
                  <td>
                    {e.status === 'running'
                      ? formatDuration(elapsedSeconds(e.started_at, null))
                      : relativeStart(e.estimated_start)}
                  </td>
                  <td className="cell-actions">
                    <div className="actions">
                      {isAdmin && e.queue_position !== null && (
                        <>
                          <button
                            type="button"
                            className="btn btn-small btn-ghost"
                            aria-label="Move up"
                            disabled={e.queue_position <= 1}
                            onClick={() => move(e, -1)}
                            data-testid="move-up"
                          >
                            ↑
                          </button>
                          <button
                            type="button"
                            className="btn btn-small btn-ghost"
                            aria-label="Move down"
                            disabled={e.queue_position >= waiting.length}
                            onClick={() => move(e, 1)}
                            data-testid="move-down"
                          >
                            ↓
                          </button>
                        </>
                      )}
                      {(e.mine || isAdmin) && <ExperimentActions experiment={e} isAdmin={isAdmin} onDone={reload} />}
                    </div>
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
