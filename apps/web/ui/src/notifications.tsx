// Browser notifications when one of this user's experiments ends, if they chose them (Account page); the hub's
// experiment.updated events (relayed per viewer) say when. A notification per experiment, tagged with its id, so
// several open tabs show one.
import type { WebExperiment } from '@bioreactor/api';
import { useEffect, useRef } from 'react';
import { call, client } from './api.js';
import { useHubSubscribe } from './hub-events.js';
import { useSession } from './session.js';

const FINAL = new Set(['completed', 'failed', 'cancelled', 'interrupted']);

export function notificationsSupported(): boolean {
  return typeof window !== 'undefined' && 'Notification' in window;
}

export function NotificationWatcher() {
  const subscribe = useHubSubscribe();
  const { session } = useSession();
  const wanted = useRef(false);
  const told = useRef(new Set<string>());
  useEffect(() => {
    if (!session) return;
    call(client.GET('/api/account/notifications')).then(
      (p) => {
        wanted.current = p.browser_on_end;
      },
      () => undefined,
    );
  }, [session]);
  useEffect(
    () =>
      subscribe((event, data) => {
        if (event !== 'experiment.updated' || !wanted.current || !notificationsSupported()) return;
        if (Notification.permission !== 'granted') return;
        const e = (data as { experiment?: WebExperiment }).experiment;
        if (!e?.mine || !FINAL.has(e.status) || told.current.has(e.experiment_id)) return;
        told.current.add(e.experiment_id);
        const name = e.name ?? e.experiment_id.slice(0, 8);
        new Notification(`Experiment ${name} ${e.status}`, {
          body: e.failure?.summary ?? (e.status === 'completed' ? 'Its results are ready to download.' : ''),
          tag: e.experiment_id,
          icon: '/favicon.svg',
        });
      }),
    [subscribe],
  );
  return null;
}
