// The browser's session (anonymous id, account, role) for every page, refreshed after sign-in or sign-out.
import type { WebSession } from '@bioreactor/api';
import { createContext, useCallback, useContext, useEffect, useRef, useState } from 'react';
import { call, client } from './api.js';
import { reconnectStream } from './live-stream.js';

interface SessionValue {
  session: WebSession | undefined;
  setSession: (s: WebSession) => void;
  isAdmin: boolean;
}

const SessionContext = createContext<SessionValue>({ session: undefined, setSession: () => undefined, isAdmin: false });

export function SessionProvider({ children }: { children: React.ReactNode }) {
  const [session, setSessionState] = useState<WebSession>();
  useEffect(() => {
    call(client.GET('/api/session')).then(
      (s) => {
        current.current ??= s;
        setSessionState(s);
      },
      () => undefined,
    );
  }, []);
  const current = useRef<WebSession | undefined>(undefined);
  const setSession = useCallback((s: WebSession) => {
    const before = current.current;
    current.current = s;
    // The server chose what the stream may carry for the viewer it opened as: a new viewer needs a new stream.
    if (before && (before.session_id !== s.session_id || before.user?.username !== s.user?.username)) reconnectStream();
    setSessionState(s);
  }, []);
  return (
    <SessionContext.Provider value={{ session, setSession, isAdmin: session?.user?.role === 'admin' }}>
      {children}
    </SessionContext.Provider>
  );
}

export function useSession(): SessionValue {
  return useContext(SessionContext);
}
