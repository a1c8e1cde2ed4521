// The shared worker that holds the browser's one connection to `/api/stream`: every tab of the web app connects to it
// through a MessagePort, so ten open tabs cost the web server (and the browser's six connections per host) one
// stream. A tab that connects gets the current state at once (stream-connection.ts's subscribe).
import { StreamConnection, type StreamMessage } from './stream-connection.js';

/**
 * What a tab sends: `bye` when it goes away (pagehide), so its port is let go; `reconnect` when the browser signed in
 * or out, so the one stream is opened again as the new viewer for every tab.
 */
export type TabMessage = { type: 'bye' } | { type: 'reconnect' };

interface ConnectScope {
  onconnect: ((event: MessageEvent) => void) | null;
}

const connection = new StreamConnection();
const scope = self as unknown as ConnectScope;

scope.onconnect = (event) => {
  const port = event.ports[0];
  if (!port) return;
  const unsubscribe = connection.subscribe((m: StreamMessage) => port.postMessage(m));
  port.onmessage = (e: MessageEvent<TabMessage>) => {
    if (e.data?.type === 'bye') {
      unsubscribe();
      port.close();
    } else if (e.data?.type === 'reconnect') connection.reconnect();
  };
  port.start();
  connection.start();
};
