// How times, durations and numbers read on every page. Times are shown in one zone for the whole page: the lab's
// (its setting) or the browser's, as the user chose (time-zone.tsx sets it), and labelled where they are shown.

let zone: string | undefined;

/** The IANA zone times are shown in (undefined: the browser's own). */
export function displayZone(): string | undefined {
  return zone;
}

export function setDisplayZone(next: string | undefined): void {
  zone = next;
}

/** The zone's name as the browser knows it, e.g. "Europe/Berlin". */
export function zoneName(): string {
  return zone ?? Intl.DateTimeFormat().resolvedOptions().timeZone ?? 'UTC';
}

/** "Europe/Berlin, UTC+1" for a label beside times. */
export function zoneLabel(at = new Date()): string {
  const name = zoneName();
  try {
    const offset =
      new Intl.DateTimeFormat('en-GB', { timeZone: name, timeZoneName: 'shortOffset' })
        .formatToParts(at)
        .find((p) => p.type === 'timeZoneName')?.value ?? '';
    return offset && offset !== name ? `${name}, ${offset.replace('GMT', 'UTC')}` : name;
  } catch {
    return name;
  }
}

const dayKey = (d: Date) => d.toLocaleDateString('en-CA', { timeZone: zoneName() });

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const timeZone = zoneName();
  return dayKey(d) === dayKey(new Date())
    ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', timeZone })
    : d.toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', timeZone });
}

/** A full date and time with seconds, for exports and tooltips. */
export function formatDateTime(ms: number): string {
  return new Date(ms).toLocaleString('sv-SE', { timeZone: zoneName() }).replace(' ', 'T');
}

export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '—';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60 ? `${s % 60} s` : ''}`.trim();
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

export function elapsedSeconds(from: string | null, to: string | null, now = Date.now()): number | null {
  if (!from) return null;
  const start = Date.parse(from);
  const end = to ? Date.parse(to) : now;
  return Number.isFinite(start) && Number.isFinite(end) ? (end - start) / 1000 : null;
}

export function formatNumber(value: number | null | undefined, digits = 1): string {
  return value === null || value === undefined || !Number.isFinite(value) ? '—' : value.toFixed(digits);
}

/**
 * When a queued experiment should start, in words. `canStart` false (no node can run experiments now) says so
 * instead of promising a time that will not come.
 */
export function relativeStart(iso: string | null | undefined, canStart = true): string {
  if (!canStart) return 'waiting: no node can run experiments now';
  if (!iso) return '—';
  const seconds = (Date.parse(iso) - Date.now()) / 1000;
  if (!Number.isFinite(seconds)) return '—';
  if (seconds <= 30) return 'any moment';
  return `in ~${formatDuration(seconds)}`;
}
