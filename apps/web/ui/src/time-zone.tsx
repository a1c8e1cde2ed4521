// Which zone the page shows times in: the lab's (GET /api/settings/lab) or this browser's, chosen per browser and
// remembered; every time on the page follows it, and charts and exports say which it is.
import { createContext, useCallback, useContext, useEffect, useState } from 'react';
import { call, client } from './api.js';
import { setDisplayZone, zoneLabel } from './format.js';

export type ZoneChoice = 'lab' | 'browser';
const KEY = 'bioreactor.timeZone';

interface TimeZoneValue {
  choice: ZoneChoice;
  setChoice: (c: ZoneChoice) => void;
  labZone: string | undefined;
  labName: string | undefined;
  /** "Europe/Berlin, UTC+1 (lab)" */
  label: string;
  reloadLab: () => void;
}

const TimeZoneContext = createContext<TimeZoneValue>({
  choice: 'lab',
  setChoice: () => undefined,
  labZone: undefined,
  labName: undefined,
  label: '',
  reloadLab: () => undefined,
});

function storedChoice(): ZoneChoice {
  try {
    return localStorage.getItem(KEY) === 'browser' ? 'browser' : 'lab';
  } catch {
    return 'lab';
  }
}

export function TimeZoneProvider({ children }: { children: React.ReactNode }) {
  const [choice, setChoiceState] = useState<ZoneChoice>(storedChoice);
  const [lab, setLab] = useState<{ time_zone: string; lab_name: string }>();
  // Pages render once the lab's zone is known (or could not be read), so no time is shown in the wrong zone first.
  const [settled, setSettled] = useState(false);
  const reloadLab = useCallback(() => {
    call(client.GET('/api/settings/lab'))
      .then(setLab, () => undefined)
      .finally(() => setSettled(true));
  }, []);
  useEffect(() => {
    reloadLab();
    const t = setTimeout(() => setSettled(true), 1500);
    return () => clearTimeout(t);
  }, [reloadLab]);
  const zone = choice === 'lab' ? lab?.time_zone : undefined;
  // Set before the children render, so every time they format is in the chosen zone.
  setDisplayZone(zone);
  const setChoice = useCallback((c: ZoneChoice) => {
    setChoiceState(c);
    try {
      localStorage.setItem(KEY, c);
    } catch {
      // Private mode: the choice lasts for this page only.
    }
  }, []);
  const label = `${zoneLabel()} (${choice === 'lab' && lab ? 'lab' : 'this browser'})`;
  return (
    <TimeZoneContext.Provider
      value={{ choice, setChoice, labZone: lab?.time_zone, labName: lab?.lab_name, label, reloadLab }}
    >
      {/* The page consumes this context (main.tsx), so a new zone re-renders it, keeping what it holds. */}
      {settled && children}
    </TimeZoneContext.Provider>
  );
}

export function useTimeZone(): TimeZoneValue {
  return useContext(TimeZoneContext);
}

/** "Times: Europe/Berlin, UTC+1 (lab) · show in this browser's zone" */
export function ZoneSwitch() {
  const { choice, setChoice, label, labZone } = useTimeZone();
  return (
    <span className="muted small" data-testid="time-zone">
      Times: {label}
      {labZone && (
        <>
          {' · '}
          <button
            type="button"
            className="btn btn-small btn-ghost"
            onClick={() => setChoice(choice === 'lab' ? 'browser' : 'lab')}
            data-testid="time-zone-switch"
          >
            {choice === 'lab' ? 'use this browser’s zone' : 'use the lab’s zone'}
          </button>
        </>
      )}
    </span>
  );
}
