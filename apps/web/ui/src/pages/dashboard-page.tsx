// The live dashboard of the whole lab: an overview card per reactor and a panel per reactor with its tiles and charts,
// all fed by the browser's one stream (live-stream.ts). Each says its source and age, and turns stale when its
// reactor goes quiet for longer than max(3 × update_interval, 10 s), when the hub or its node is away, or when the
// page's own stream is down. The lab's settings are read again whenever the server re-sends the panels (it does when
// they change).
import type { DashboardSettings, NodeInfo } from '@bioreactor/api';
import { useEffect, useRef, useState } from 'react';
import { call, client } from '../api.js';
import { ReactorCard, ReactorPanel } from '../components/reactor-panel.js';
import { useLiveResource } from '../hub-events.js';
import { staleReason } from '../live-model.js';
import { streamStateText, useLive, useNow, useStreamEvents, useStreamState } from '../live-stream.js';
import { Link } from '../router.js';

export function DashboardPage() {
  const settingsResource = useLiveResource(() => call(client.GET('/api/settings/dashboard')), 'dashboard-settings');
  const nodesResource = useLiveResource(() => call(client.GET('/api/nodes')), 'nodes');
  // A snapshot that carries the settings (a server that sends them) is the newest word on them.
  const [pushed, setPushed] = useState<DashboardSettings>();
  // The server sends every panel again when the lab's settings change: they are read again then.
  const reloadSettings = useRef(settingsResource.reload);
  reloadSettings.current = settingsResource.reload;
  const pending = useRef<ReturnType<typeof setTimeout>>(undefined);
  useStreamEvents((event, data, replay) => {
    if (event !== 'live.snapshot' || replay) return;
    const carried = (data as { settings?: DashboardSettings } | null)?.settings;
    if (carried) setPushed(carried);
    else if (!pending.current)
      pending.current = setTimeout(() => {
        pending.current = undefined;
        void reloadSettings.current().catch(() => undefined);
      }, 100);
  });
  useEffect(() => () => clearTimeout(pending.current), []);
  const settings = pushed ?? settingsResource.data;
  const live = useLive();
  const state = useStreamState();
  const now = useNow();

  const infos = new Map<string, NodeInfo>((nodesResource.data?.nodes ?? []).map((n) => [n.name, n]));
  // The hub's nodes in its order, then any reactor the stream knows that the list does not (yet).
  const names = [...infos.keys(), ...Object.keys(live.reactors).filter((n) => !infos.has(n))];
  const interval = settings?.update_interval ?? 2;
  const staleOf = (name: string) =>
    staleReason(live.reactors[name], {
      now,
      updateIntervalS: interval,
      stream: state.kind,
      hubConnected: live.hub_connected,
    });

  return (
    <div className="page">
      <div className="page-head">
        <h1>Live dashboard</h1>
      </div>
      <div className="statusbar card" data-testid="dashboard-status">
        <span className="status-item">
          <span className={`dot ${state.kind === 'open' ? 'dot-ok' : 'dot-bad'}`} aria-hidden="true" />
          <span data-testid="connection-state" data-state={state.kind}>
            {state.kind === 'open' ? 'Connected' : streamStateText(state, now)}
          </span>
        </span>
        {live.hub_connected === false && (
          <span className="status-item" data-testid="hub-down">
            The web server cannot reach the hub
          </span>
        )}
        <span className="status-item muted">
          {names.length} reactor{names.length === 1 ? '' : 's'}
          {settings && <> · every {settings.update_interval} s</>}
        </span>
        <Link href="/settings" className="status-item">
          Settings
        </Link>
      </div>
      {nodesResource.error && names.length === 0 && (
        <div className="notice notice-error" role="alert">
          {nodesResource.error}
        </div>
      )}
      {names.length === 0 && !nodesResource.error && (
        <div className="card empty muted" data-testid="no-reactors">
          {nodesResource.data ? 'The hub drives no reactor yet.' : 'Loading the reactors…'}
        </div>
      )}
      {names.length > 0 && (
        <section aria-label="Lab overview" className="reactor-cards" data-testid="lab-overview">
          {names.map((name) => (
            <ReactorCard
              key={name}
              name={name}
              info={infos.get(name)}
              live={live.reactors[name]}
              stale={staleOf(name)}
              now={now}
            />
          ))}
        </section>
      )}
      {names.map((name) => (
        <ReactorPanel
          key={name}
          name={name}
          info={infos.get(name)}
          live={live.reactors[name]}
          stale={staleOf(name)}
          now={now}
          settings={settings}
        />
      ))}
    </div>
  );
}
