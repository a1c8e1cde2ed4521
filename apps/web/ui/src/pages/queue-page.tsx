// The whole active queue, live; owners act on their own experiments, admins on all of them (and reorder).
import type { WebExperiment } from '@bioreactor/api';
import { useState } from 'react';
import { call, client, errorText } from '../api.js';
import { ExperimentActions } from '../components/experiment-actions.js';
import { ExperimentTags } from '../components/experiment-tags.js';
import { FailureLine } from '../components/failure-line.js';
import { StatusBadge } from '../components/status-badge.js';
import { elapsedSeconds, formatDuration, formatTime, relativeStart } from '../format.js';
import { useLiveResource } from '../hub-events.js';
import { Link } from '../router.js';
import { useSession } from '../session.js';
import { ZoneSwitch } from '../time-zone.js';
import { experimentLabel, reactorOf } from './my-experiments-page.js';

/** How many of the viewer's finished runs the queue page recalls under "Your recent runs". */
const RECENT = 5;

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
  const recent = useLiveResource(
    () => call(client.GET('/api/experiments/mine', { params: { query: { limit: 20 } } })),
    `recent:${session?.user?.username ?? ''}`,
  );
  const finished = (recent.data?.experiments ?? [])
    .filter((e) => e.completed_at !== null && !['queued', 'running', 'paused'].includes(e.status))
    .slice(0, RECENT);
  const waiting = (data?.queue ?? []).filter((e) => e.queue_position !== null);
  // No node can run experiments (none registered, all offline, drained, without a runner or disk): nothing starts.
  const canStart = data ? data.nodes_ready === undefined || data.nodes_ready > 0 : true;

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
      {error && (
        <div className="notice notice-error" role="alert">
          {error}
        </div>
      )}
      {data && !canStart && (
        <div className="notice notice-warn" role="status" data-testid="queue-not-ready">
          <strong>No node can run experiments now, so nothing starts until one can.</strong>{' '}
          {data.not_ready_reason && <span>{data.not_ready_reason}.</span>} Waiting experiments keep their place; the lab
          manager has been told on the Nodes page.
        </div>
      )}
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
          value={data ? (canStart ? formatDuration(data.estimated_wait_minutes * 60) : 'no node ready') : '—'}
          testId="stat-wait"
        />
      </div>
      {data && data.queue.length === 0 && (
        <div className="card empty">
          <p>
            {canStart
              ? 'The queue is empty: a new experiment starts at once.'
              : 'The queue is empty, but no node can run experiments now: a new experiment waits until one can.'}
          </p>
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
                <th>Reactor</th>
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
                  <td className="name-cell">
                    {e.masked ? (
                      <span className="mono" title="Another user's experiment">
                        {experimentLabel(e)}
                      </span>
                    ) : (
                      <Link href={`/experiment/${e.experiment_id}`}>{experimentLabel(e)}</Link>
                    )}{' '}
                    <ExperimentTags experiment={e} />
                    {e.note && e.status === 'running' && <div className="muted small">{e.note}</div>}
                  </td>
                  <td className="hide-sm">{e.mine ? <strong>you</strong> : e.owner}</td>
                  <td className="cell-status">
                    <StatusBadge status={e.status} />
                  </td>
                  <td data-testid="queue-node" data-node={e.node ?? ''}>
                    {reactorOf(e)}
                  </td>
                  <td className="hide-sm">{formatTime(e.created_at)}</td>
                  <td data-testid="queue-starts">
                    {e.status === 'running'
                      ? formatDuration(elapsedSeconds(e.started_at, null))
                      : e.status === 'paused'
                        ? 'paused: starts once resumed'
                        : relativeStart(e.estimated_start, canStart)}
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
      <p>
        <ZoneSwitch />
      </p>
      {finished.length > 0 && (
        <section className="card" data-testid="recent-runs">
          <h2>Your recent runs</h2>
          <ul className="stack" style={{ listStyle: 'none', padding: 0, margin: 0 }}>
            {finished.map((e) => (
              <li key={e.experiment_id} data-testid="recent-run" data-experiment-id={e.experiment_id}>
                <span className="name-cell">
                  <Link href={`/experiment/${e.experiment_id}`}>{experimentLabel(e)}</Link>
                </span>{' '}
                <ExperimentTags experiment={e} /> <StatusBadge status={e.status} />{' '}
                <span className="muted small">{formatTime(e.completed_at)}</span>
                <FailureLine experiment={e} />
              </li>
            ))}
          </ul>
          <p className="small">
            <Link href="/my-experiments">All your experiments</Link>
          </p>
        </section>
      )}
    </div>
  );
}
