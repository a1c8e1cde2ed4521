// The lab's own settings (<config>/lab_settings.json: its name, time zone and whether live rows are shared) and each user's notification choices
// (<config>/notification_prefs.json, by a hash of the id the hub knows them as: notificationKey), written atomically
// like every config file.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { ApiError, type LabSettings, type NotificationPrefs } from '@bioreactor/api';
import { readJsonFile, writeJsonFile } from './json-file.js';

/** Notification choices are kept by a hash of the user's hub id: a browser's id is a credential, never stored. */
export function notificationKey(hubUser: string): string {
  return createHash('sha256').update(hubUser).digest('base64url');
}

export const LAB_SETTINGS_FILE = 'lab_settings.json';
export const NOTIFICATION_PREFS_FILE = 'notification_prefs.json';
/** Users whose choices are kept; the oldest are dropped past it (anonymous browsers come and go). */
const MAX_PREFS = 10_000;

/** Whether the runtime knows this IANA time zone ("Europe/Berlin", "UTC"). */
export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** The zone of the machine the web server runs on: the lab's, unless the lab manager sets another. */
export function machineTimeZone(): string {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  return zone && isTimeZone(zone) ? zone : 'UTC';
}

export class LabSettingsStore {
  private readonly path: string;
  private current: LabSettings & { share_live_data: boolean };
  private readonly listeners = new Set<() => void>();

  constructor(configDir: string, onProblem: (message: string) => void = () => undefined) {
    this.path = join(configDir, LAB_SETTINGS_FILE);
    this.current = { lab_name: 'Bioreactor lab', time_zone: machineTimeZone(), share_live_data: false };
    try {
      const raw = readJsonFile(this.path) as Partial<LabSettings> | undefined;
      if (typeof raw?.lab_name === 'string' && raw.lab_name.trim()) this.current.lab_name = raw.lab_name.trim();
      if (typeof raw?.time_zone === 'string') {
        if (isTimeZone(raw.time_zone)) this.current.time_zone = raw.time_zone;
        else
          onProblem(
            `${this.path}: unknown time zone ${JSON.stringify(raw.time_zone)}; using ${this.current.time_zone}`,
          );
      }
      // Only an explicit true shares: anything else keeps each run's rows to its owner and the admins.
      this.current.share_live_data = raw?.share_live_data === true;
    } catch (err) {
      onProblem(`${this.path} is not valid JSON (${(err as Error).message}); using defaults until settings are saved`);
    }
  }

  get(): LabSettings & { share_live_data: boolean } {
    return { ...this.current };
  }

  save(next: LabSettings): LabSettings {
    if (!isTimeZone(next.time_zone))
      throw new ApiError(
        'VALIDATION_FAILED',
        `"${next.time_zone}" is not a time zone; use a name such as Europe/Berlin`,
        [{ field: 'time_zone', message: 'an IANA time zone name, e.g. Europe/Berlin or UTC' }],
      );
    const clean = {
      lab_name: next.lab_name.trim() || 'Bioreactor lab',
      time_zone: next.time_zone,
      share_live_data: next.share_live_data ?? this.current.share_live_data,
    };
    writeJsonFile(this.path, clean);
    this.current = clean;
    for (const fn of this.listeners) fn();
    return this.get();
  }

  /** Runs after every save (live streams re-check who may see which rows). */
  onChange(fn: () => void): void {
    this.listeners.add(fn);
  }
}

export class NotificationPrefsStore {
  private readonly path: string;
  private readonly users = new Map<string, NotificationPrefs>();

  constructor(configDir: string, onProblem: (message: string) => void = () => undefined) {
    this.path = join(configDir, NOTIFICATION_PREFS_FILE);
    try {
      const raw = readJsonFile(this.path) as { users?: Record<string, Partial<NotificationPrefs>> } | undefined;
      for (const [user, prefs] of Object.entries(raw?.users ?? {}))
        this.users.set(user, {
          browser_on_end: prefs?.browser_on_end === true,
          email_on_end: prefs?.email_on_end === true,
          email: typeof prefs?.email === 'string' ? prefs.email : null,
        });
    } catch (err) {
      onProblem(`${this.path} is not valid JSON (${(err as Error).message}); notification choices start empty`);
    }
  }

  get(key: string): Required<NotificationPrefs> {
    return { browser_on_end: false, email_on_end: false, email: null, ...this.users.get(key) };
  }

  save(key: string, prefs: NotificationPrefs): Required<NotificationPrefs> {
    const before = this.get(key);
    const email = prefs.email === undefined ? before.email : prefs.email?.trim() || null;
    if (prefs.email_on_end && !email)
      throw new ApiError('VALIDATION_FAILED', 'Give the e-mail address to send the notifications to', [
        { field: 'email', message: 'an e-mail address' },
      ]);
    this.users.delete(key);
    this.users.set(key, {
      browser_on_end: prefs.browser_on_end,
      email_on_end: prefs.email_on_end ?? before.email_on_end,
      email,
    });
    for (const key of this.users.keys()) {
      if (this.users.size <= MAX_PREFS) break;
      this.users.delete(key);
    }
    writeJsonFile(this.path, { users: Object.fromEntries(this.users) }, 0o600);
    return this.get(key);
  }
}
