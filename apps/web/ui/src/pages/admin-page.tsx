// The lab manager's pages, behind the admin role: every run (search, filters, pages), the accounts (roles, disable),
// the nodes (state, readiness with its reason, drain and enable) and the lab's settings.
import type { AdminUser, ExperimentState, LabSettings, NodeInfo } from '@bioreactor/api';
import { type FormEvent, useCallback, useEffect, useState } from 'react';
import { call, client, errorText } from '../api.js';
import { ExperimentActions } from '../components/experiment-actions.js';
import { FailureLine } from '../components/failure-line.js';
import { Labels } from '../components/labels.js';
import { NodeReadiness } from '../components/node-readiness.js';
import { Pager } from '../components/pager.js';
import { StatusBadge } from '../components/status-badge.js';
import { elapsedSeconds, formatDuration, formatTime } from '../format.js';
import { useLiveResource } from '../hub-events.js';
import { Link, usePath } from '../router.js';
import { useSession } from '../session.js';
import { STATES } from '../states.js';
import { useTimeZone, ZoneSwitch } from '../time-zone.js';
import { experimentLabel } from './my-experiments-page.js';

const TABS = [
  { href: '/admin/runs', label: 'All runs' },
  { href: '/admin/users', label: 'Users' },
  { href: '/admin/nodes', label: 'Nodes' },
  { href: '/admin/settings', label: 'Lab settings' },
];
const RUNS_PAGE = 25;

export function AdminPage() {
  const { session, isAdmin } = useSession();
  const path = usePath().replace(/\/+$/, '');
  const tab = TABS.find((t) => t.href === path)?.href ?? '/admin/runs';
  if (!session) return <div className="page muted">Loading…</div>;
  if (!isAdmin)
    return (
      <div className="page">
        <h1>Lab manager</h1>
        <div className="notice notice-warn" data-testid="admin-only">
          These pages are for the lab manager. <Link href="/account">Sign in with an admin account</Link> to see every
          run, the users, the nodes and the lab’s settings.
        </div>
      </div>
    );
  return (
    <div className="page">
      <div className="page-head">
        <h1>Lab manager</h1>
      </div>
      <nav className="admin-tabs" aria-label="Lab manager">
        {TABS.map((t) => (
          <Link
            key={t.href}
            href={t.href}
            className={t.href === tab ? 'active' : ''}
            aria-current={t.href === tab ? 'page' : undefined}
          >
            {t.label}
          </Link>
        ))}
      </nav>
      {tab === '/admin/runs' && <AllRuns />}
      {tab === '/admin/users' && <Users />}
      {tab === '/admin/nodes' && <Nodes />}
      {tab === '/admin/settings' && <Settings />}
    </div>
  );
}

function AllRuns() {
  const [offset, setOffset] = useState(0);
  const [q, setQ] = useState('');
  const [user, setUser] = useState('');
  const [label, setLabel] = useState('');
  const [status, setStatus] = useState<ExperimentState | ''>('');
  const [archived, setArchived] = useState(false);
  const query = {
    limit: RUNS_PAGE,
    offset,
    ...(q.trim() ? { q: q.trim() } : {}),
    ...(user.trim() ? { user: user.trim() } : {}),
    ...(label.trim() ? { label: label.trim() } : {}),
    ...(status ? { status } : {}),
    ...(archived ? { include_archived: true } : {}),
  };
  const { data, error, reload } = useLiveResource(
    () => call(client.GET('/api/admin/experiments', { params: { query } })),
    JSON.stringify(query),
  );
  const reset =
    <T,>(set: (v: T) => void) =>
    (v: T) => {
      set(v);
      setOffset(0);
    };
  return (
    <section>
      <div className="filters">
        <label>
          Search
          <input
            type="search"
            value={q}
            onChange={(e) => reset(setQ)(e.target.value)}
            placeholder="name, id, owner, notes"
            data-testid="runs-search"
          />
        </label>
        <label>
          Owner
          <input value={user} onChange={(e) => reset(setUser)(e.target.value)} placeholder="account name" />
        </label>
        <label>
          Label
          <input value={label} onChange={(e) => reset(setLabel)(e.target.value)} />
        </label>
        <label>
          State
          <select
            value={status}
            onChange={(e) => reset(setStatus)(e.target.value as ExperimentState | '')}
            data-testid="runs-status"
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
          <input type="checkbox" checked={archived} onChange={(e) => reset(setArchived)(e.target.checked)} />
          Include archived
        </label>
      </div>
      {error && (
        <div className="notice notice-error" role="alert">
          {error}
        </div>
      )}
      {data && (
        <div className="table-wrap card">
          <table className="table stack-sm" data-testid="all-runs">
            <thead>
              <tr>
                <th>Experiment</th>
                <th>Owner</th>
                <th>Status</th>
                <th className="hide-sm">Created</th>
                <th className="hide-sm">Run time</th>
                <th>
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {data.experiments.map((e) => (
                <tr key={e.experiment_id} data-testid="run-row" data-experiment-id={e.experiment_id}>
                  <td className="name-cell">
                    <Link href={`/experiment/${e.experiment_id}`}>{experimentLabel(e)}</Link>
                    <Labels labels={e.labels} />
                  </td>
                  <td>{e.owner}</td>
                  <td className="cell-status">
                    <StatusBadge status={e.status} />
                    <FailureLine experiment={e} />
                  </td>
                  <td className="hide-sm">{formatTime(e.created_at)}</td>
                  <td className="hide-sm">{formatDuration(elapsedSeconds(e.started_at, e.completed_at))}</td>
                  <td className="cell-actions">
                    <ExperimentActions experiment={e} isAdmin onDone={reload} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {data.experiments.length === 0 && <p className="empty muted">No run matches.</p>}
          <Pager offset={offset} limit={RUNS_PAGE} total={data.total} onChange={setOffset} />
        </div>
      )}
      <p>
        <ZoneSwitch />
      </p>
    </section>
  );
}

function Users() {
  const [users, setUsers] = useState<AdminUser[]>();
  const [error, setError] = useState<string>();
  const load = useCallback(
    () =>
      call(client.GET('/api/admin/users')).then(
        (r) => setUsers(r.users),
        (err: unknown) => setError(errorText(err)),
      ),
    [],
  );
  useEffect(() => {
    void load();
  }, [load]);
  const change = async (u: AdminUser, body: { role?: 'user' | 'admin'; disabled?: boolean }, confirmText?: string) => {
    if (confirmText && !window.confirm(confirmText)) return;
    setError(undefined);
    try {
      await call(client.POST('/api/admin/users/{username}', { params: { path: { username: u.username } }, body }));
      await load();
    } catch (err) {
      setError(errorText(err));
    }
  };
  return (
    <section>
      <p className="muted">
        Disabling an account signs it out everywhere and stops it signing in; its experiments stay. Giving or taking the
        admin role signs the account out so it signs in again with its new role.
      </p>
      {error && (
        <div className="notice notice-error" role="alert">
          {error}
        </div>
      )}
      {users && (
        <div className="table-wrap card">
          <table className="table stack-sm" data-testid="users">
            <thead>
              <tr>
                <th>Account</th>
                <th>Role</th>
                <th>State</th>
                <th className="hide-sm">Created</th>
                <th>
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {users.map((u) => (
                <tr key={u.username} data-testid="user-row" data-username={u.username}>
                  <td className="name-cell">
                    <Link href={`/admin/runs`}>{u.username}</Link>
                  </td>
                  <td>{u.role}</td>
                  <td>{u.disabled ? <span className="badge badge-failed">disabled</span> : 'active'}</td>
                  <td className="hide-sm">{formatTime(u.created_at)}</td>
                  <td className="cell-actions">
                    {u.configured ? (
                      <span className="muted small">set by BIOREACTOR_ADMIN_USER</span>
                    ) : (
                      <div className="actions">
                        <button
                          type="button"
                          className="btn btn-small"
                          onClick={() => change(u, { role: u.role === 'admin' ? 'user' : 'admin' })}
                          data-testid="user-role"
                        >
                          {u.role === 'admin' ? 'Make user' : 'Make admin'}
                        </button>
                        <button
                          type="button"
                          className={`btn btn-small ${u.disabled ? '' : 'btn-danger'}`}
                          onClick={() =>
                            change(
                              u,
                              { disabled: !u.disabled },
                              u.disabled ? undefined : `Disable ${u.username}? They are signed out everywhere.`,
                            )
                          }
                          data-testid="user-disable"
                        >
                          {u.disabled ? 'Enable' : 'Disable'}
                        </button>
                      </div>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function Nodes() {
  const { data, error, reload } = useLiveResource(() => call(client.GET('/api/nodes')), 'admin-nodes', 5000);
  const [actionError, setActionError] = useState<string>();
  const drain = async (n: NodeInfo, drained: boolean) => {
    setActionError(undefined);
    try {
      await call(client.POST('/api/nodes/{name}/drain', { params: { path: { name: n.name } }, body: { drained } }));
      await reload();
    } catch (err) {
      setActionError(errorText(err));
    }
  };
  return (
    <section>
      <p className="muted">
        A drained node finishes the experiment it runs and takes no new ones (for maintenance); enable it to let the
        queue use it again.
      </p>
      {(error || actionError) && (
        <div className="notice notice-error" role="alert">
          {actionError ?? error}
        </div>
      )}
      {data && (
        <div className="table-wrap card">
          <table className="table stack-sm" data-testid="nodes">
            <thead>
              <tr>
                <th>Node</th>
                <th className="hide-sm">Running</th>
                <th className="hide-sm">Longest run</th>
                <th className="hide-sm">Last seen</th>
                <th>
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {data.nodes.map((n) => (
                <tr key={n.name} data-testid="node-row" data-node={n.name}>
                  <td className="name-cell">
                    <NodeReadiness node={n} />
                    <div className="muted small mono">{n.url}</div>
                  </td>
                  <td className="hide-sm">
                    {n.running_experiment ? (
                      <Link href={`/experiment/${n.running_experiment}`}>{n.running_experiment.slice(0, 8)}</Link>
                    ) : (
                      '—'
                    )}
                  </td>
                  <td className="hide-sm">{n.max_duration_s ? formatDuration(n.max_duration_s) : '—'}</td>
                  <td className="hide-sm">{formatTime(n.last_seen)}</td>
                  <td className="cell-actions">
                    <button
                      type="button"
                      className="btn btn-small"
                      onClick={() => drain(n, !n.drained)}
                      data-testid="node-drain"
                    >
                      {n.drained ? 'Enable' : 'Drain'}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {data.nodes.length === 0 && <p className="empty muted">No node is registered with the hub.</p>}
        </div>
      )}
    </section>
  );
}

function Settings() {
  const { reloadLab } = useTimeZone();
  const [lab, setLab] = useState<LabSettings>();
  const [message, setMessage] = useState<{ ok: boolean; text: string }>();
  const zones = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
  useEffect(() => {
    call(client.GET('/api/settings/lab')).then(setLab, (err: unknown) =>
      setMessage({ ok: false, text: errorText(err) }),
    );
  }, []);
  if (!lab) return <p className="muted">{message?.text ?? 'Loading…'}</p>;
  const save = async (event: FormEvent) => {
    event.preventDefault();
    setMessage(undefined);
    try {
      setLab(await call(client.POST('/api/settings/lab', { body: lab })));
      setMessage({ ok: true, text: 'Saved: times now show in this zone wherever the lab’s zone is chosen' });
      reloadLab();
    } catch (err) {
      setMessage({ ok: false, text: errorText(err) });
    }
  };
  return (
    <section>
      <form className="card settings-form" onSubmit={save} data-testid="lab-settings">
        <label>
          Lab name
          <input value={lab.lab_name} maxLength={100} onChange={(e) => setLab({ ...lab, lab_name: e.target.value })} />
        </label>
        <label>
          The lab’s time zone
          <input
            list="time-zones"
            value={lab.time_zone}
            onChange={(e) => setLab({ ...lab, time_zone: e.target.value })}
            data-testid="lab-time-zone"
          />
          <datalist id="time-zones">
            {zones.map((z) => (
              <option key={z} value={z} />
            ))}
          </datalist>
          <span className="muted small">
            Pages, charts and exports show times in this zone unless a user picks their browser’s.
          </span>
        </label>
        {message && (
          <div
            className={`notice ${message.ok ? 'notice-ok' : 'notice-error'}`}
            role="status"
            data-testid="lab-message"
          >
            {message.text}
          </div>
        )}
        <button type="submit" className="btn btn-primary" data-testid="lab-save">
          Save
        </button>
      </form>
      <div className="card">
        <h2>Dashboard</h2>
        <p>
          Which series the dashboard shows, how often it updates and the CSV it follows:{' '}
          <Link href="/settings">dashboard settings</Link>.
        </p>
      </div>
    </section>
  );
}
