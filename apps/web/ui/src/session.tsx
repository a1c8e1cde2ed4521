// The browser's session (anonymous id, account, role) for every page, refreshed after sign-in or sign-out.
import type { WebSession } from '@bioreactor/api';
import { createContext, useCallback, useContext, useEffect, useState } from 'react';
import { call, client } from './api.js';

interface SessionValue {
  session: WebSession | undefined;
  setSession: (s: WebSession) => void;
  isAdmin: boolean;
}

const SessionContext = createContext<SessionValue>({ session: undefined, setSession: () => undefined, isAdmin: false });

export function SessionProvider({ children }: { children: React.ReactNode }) {
  const [session, setSessionState] = useState<WebSession>();
  useEffect(() => {
    call(client.GET('/api/session')).then(setSessionState, () => undefined);
  }, []);
  const setSession = useCallback((s: WebSession) => setSessionState(s), []);
  return (
    <SessionContext.Provider value={{ session, setSession, isAdmin: session?.user?.role === 'admin' }}>
      {children}
    </SessionContext.Provider>
  );
}

export function useSession(): SessionValue {
  return useContext(SessionContext);
}
