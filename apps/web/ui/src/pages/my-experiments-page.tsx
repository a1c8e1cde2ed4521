// This browser's (or account's) experiments, live, a page at a time: state, why a run failed, timing, labels,
// actions, downloads; searchable by name, id or label and filtered by state.
import type { ExperimentState, WebExperiment } from '@bioreactor/api';
import { useState } from 'react';
import { call, client } from '../api.js';
import { ExperimentActions } from '../components/experiment-actions.js';
import { ExperimentTags } from '../components/experiment-tags.js';
import { FailureLine } from '../components/failure-line.js';
import { Labels } from '../components/labels.js';
import { Pager } from '../components/pager.js';
import { StatusBadge } from '../components/status-badge.js';
import { elapsedSeconds, formatDuration, formatTime } from '../format.js';
import { useLiveResource } from '../hub-events.js';
import { Link } from '../router.js';
import { useSession } from '../session.js';
import { STATES } from '../states.js';
import { ZoneSwitch } from '../time-zone.js';

export const PAGE_SIZE = 25;

export function experimentLabel(e: WebExperiment): string {
  return e.name ? e.name : e.masked ? `${e.experiment_id}…` : e.experiment_id.slice(0, 8);
}

/**
 * Where a run goes: its node once it runs (or ran); while it waits, the node it asked for, or "any" when the queue
 * gives it to the first node free.
 */
export function reactorOf(e: WebExperiment): string {
  if (e.status === 'queued' || e.status === 'paused') return e.node ? `${e.node} only` : 'any';
  return e.node ?? '—';
}

export function MyExperimentsPage() {
  const { isAdmin, session } = useSession();
  const [offset, setOffset] = useState(0);
  const [q, setQ] = useState('');
  const [status, setStatus] = useState<ExperimentState | ''>('');
  const [archived, setArchived] = useState(false);
  const query = {
    limit: PAGE_SIZE,
    offset,
    ...(q.trim() ? { q: q.trim() } : {}),
    ...(status ? { status } : {}),
    ...(archived ? { include_archived: true } : {}),
  };
  const { data, error, reload } = useLiveResource(
    () => call(client.GET('/api/experiments/mine', { params: { query } })),
    `${session?.user?.username ?? ''}:${JSON.stringify(query)}`,
  );
  const queue = useLiveResource(() => call(client.GET('/api/queue')), 'queue-retention', 60_000);
  const retention = queue.data?.retention;
  const experiments = data?.experiments ?? [];
  const total = data?.total ?? experiments.length;
  const filtered = Boolean(q.trim() || status);
  return (
    <div className="page">
      <div className="page-head">
        <h1>My experiments</h1>
        <p className="muted">
          {session?.user
            ? `Experiments of ${session.user.username}, on any browser you sign in from.`
            : 'Experiments submitted from this browser. Sign in to see them from any browser.'}
        </p>
        {retention && (
          <p className="muted small" data-testid="retention">
            The lab {retention.action === 'delete' ? 'deletes' : 'archives'} finished experiments{' '}
            {formatDuration(retention.after_s)} after they end
            {retention.action === 'delete'
              ? ': download the results you want to keep before then.'
              : '; tick “Include archived” to see them again.'}
          </p>
        )}
      </div>
      <div className="filters">
        <label>
          Search
          <input
            type="search"
            value={q}
            placeholder="name, id or label"
            onChange={(e) => {
              setQ(e.target.value);
              setOffset(0);
            }}
            data-testid="mine-search"
          />
        </label>
        <label>
          State
          <select
            value={status}
            onChange={(e) => {
              setStatus(e.target.value as ExperimentState | '');
              setOffset(0);
            }}
            data-testid="mine-status"
          >
            <option value="">any</option>
            {STATES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label className="check">
          <input
            type="checkbox"
            checked={archived}
            onChange={(e) => {
              setArchived(e.target.checked);
              setOffset(0);
            }}
          />
          Include archived
        </label>
      </div>
      {error && (
        <div className="notice notice-error" role="alert">
          {error}
        </div>
      )}
      {data && experiments.length === 0 && (
        <div className="card empty">
          {filtered ? (
            <p>No experiment matches.</p>
          ) : (
            <>
              <p>No experiments yet.</p>
              <Link href="/upload" className="btn btn-primary">
                Upload a script
              </Link>
            </>
          )}
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
                <th className="hide-sm">Reactor</th>
                <th className="hide-sm">Created</th>
                <th className="hide-sm">Started</th>
                <th className="hide-sm">Run time</th>
                <th>
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {experiments.map((e) => (
                <tr key={e.experiment_id} data-testid="experiment-row" data-experiment-id={e.experiment_id}>
                  <td className="name-cell">
                    <Link href={`/experiment/${e.experiment_id}`}>{experimentLabel(e)}</Link>
                    {e.name && <div className="muted mono small">{e.experiment_id.slice(0, 8)}</div>}
                    <ExperimentTags experiment={e} />
                    <Labels labels={e.labels} />
                  </td>
                  <td className="cell-status">
                    <StatusBadge status={e.status} />
                    <FailureLine experiment={e} />
                  </td>
                  <td className="hide-sm">{e.queue_position ?? '—'}</td>
                  <td className="hide-sm" data-testid="experiment-node">
                    {reactorOf(e)}
                  </td>
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
          <Pager offset={offset} limit={PAGE_SIZE} total={total} onChange={setOffset} />
        </div>
      )}
      <p>
        <ZoneSwitch />
      </p>
    </div>
  );
}
