import { call, client } from '../api.js';
import { NodeReadiness } from '../components/node-readiness.js';
import { StatusBadge } from '../components/status-badge.js';
import { elapsedSeconds, formatDuration, formatNumber } from '../format.js';
import { useLiveResource } from '../hub-events.js';
import { useLive } from '../live-stream.js';
import { Link } from '../router.js';
import { experimentLabel } from './my-experiments-page.js';

const FEATURES = [
  { href: '/upload', title: 'Upload', text: 'Submit a Python script; it is checked before it joins the queue.' },
  { href: '/queue', title: 'Queue', text: 'See what runs now and what waits, live.' },
  { href: '/my-experiments', title: 'My experiments', text: 'Follow yours, read logs, download the results.' },
  {
    href: '/dashboard',
    title: 'Live dashboard',
    text: 'CO2, temperature, optical density and actuators as they change.',
  },
];

export function HomePage() {
  const queue = useLiveResource(() => call(client.GET('/api/queue')), 'queue');
  const nodes = useLiveResource(() => call(client.GET('/api/nodes')), 'nodes');
  // Each reactor's newest values, from the browser's one stream (no polling).
  const live = useLive();
  const running = queue.data?.queue.find((e) => e.status === 'running');
  return (
    <div className="page">
      <section className="hero">
        <h1>Shared bioreactor</h1>
        <p>
          Write an experiment in Python, queue it, and it runs on the bioreactor in an isolated container — one at a
          time, first come first served. Watch its data live and download everything it produced.
        </p>
        <Link href="/upload" className="btn btn-primary">
          Upload an experiment
        </Link>
      </section>
      <div className="grid-3">
        <section className="card" data-testid="home-node">
          <h2>Bioreactor</h2>
          {nodes.error && (
            <p className="error-text" role="alert">
              {nodes.error}
            </p>
          )}
          {(nodes.data?.nodes ?? []).map((n) => {
            const sample = live.reactors[n.name]?.sample;
            return (
              <div key={n.name}>
                <p>
                  <NodeReadiness node={n} />
                </p>
                <p className="muted small">
                  CO2 {formatNumber(sample?.co2_ppm, 0)} ppm · {formatNumber(sample?.temperature, 1)} °C
                </p>
              </div>
            );
          })}
          {nodes.data?.nodes.length === 0 && <p className="muted">No node registered with the hub.</p>}
        </section>
        <section className="card" data-testid="home-queue">
          <h2>Queue</h2>
          {queue.error && (
            <p className="error-text" role="alert">
              {queue.error}
            </p>
          )}
          {queue.data && (
            <>
              <p>
                <strong>{queue.data.total_running}</strong> running · <strong>{queue.data.total_queued}</strong> queued
                · <strong>{queue.data.total_paused}</strong> paused
              </p>
              {queue.data.nodes_ready === 0 && (
                <p className="notice notice-warn" data-testid="home-not-ready">
                  No node can run experiments now: new experiments wait until one can.
                </p>
              )}
              {running ? (
                <p>
                  Now:{' '}
                  {running.masked ? (
                    experimentLabel(running)
                  ) : (
                    <Link href={`/experiment/${running.experiment_id}`}>{experimentLabel(running)}</Link>
                  )}{' '}
                  <StatusBadge status="running" /> for {formatDuration(elapsedSeconds(running.started_at, null))}
                </p>
              ) : queue.data.nodes_ready === 0 ? null : (
                <p className="muted">Nothing running: a new experiment starts at once.</p>
              )}
              {queue.data.nodes_ready !== 0 && (
                <p className="muted small">Estimated wait: {formatDuration(queue.data.estimated_wait_minutes * 60)}</p>
              )}
            </>
          )}
        </section>
        <section className="card">
          <h2>How it works</h2>
          <ol className="steps">
            <li>
              Upload a script that uses <code>bioreactor_client</code>.
            </li>
            <li>It waits in a fair queue (5 active per user).</li>
            <li>It runs; its CSV streams to the dashboard.</li>
            <li>Download the zip: data, logs, script and manifest.</li>
          </ol>
        </section>
      </div>
      <div className="grid-4">
        {FEATURES.map((f) => (
          <Link key={f.href} href={f.href} className="card feature">
            <h3>{f.title}</h3>
            <p className="muted">{f.text}</p>
          </Link>
        ))}
      </div>
    </div>
  );
}
