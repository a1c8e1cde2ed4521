// Dashboard settings in <config>/dashboard_settings.json: validated, written atomically, applied at once.
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { DashboardSettings, DisplayComponents } from '@bioreactor/api';
import { Value } from 'typebox/value';
import { readJsonFile, writeJsonFile } from './json-file.js';

export const SETTINGS_FILE = 'dashboard_settings.json';

export function defaultSettings(): DashboardSettings {
  return Value.Default(DashboardSettings, { display_components: {} }) as DashboardSettings;
}

/**
 * Reads what an older file holds: the original's keys (`photodiodes` for the OD channels, a full
 * `/app/...` CSV path) are carried over, unknown keys dropped, and anything invalid falls back to its default.
 */
export function normalizeSettings(raw: unknown): { settings: DashboardSettings; problems: string[] } {
  const problems: string[] = [];
  const settings = defaultSettings();
  if (typeof raw !== 'object' || raw === null)
    return { settings, problems: raw === undefined ? [] : ['not an object'] };
  const r = raw as Record<string, unknown>;
  const shown = (r.display_components ?? {}) as Record<string, unknown>;
  const legacy: Record<string, string> = { photodiodes: 'od_voltages', co2: 'co2_sensor' };
  // Every displayed reading's key (readings.ts), the optional ones of readings added since included.
  const keys = new Set(Object.keys(DisplayComponents.properties));
  for (const [key, value] of Object.entries(shown)) {
    const target = legacy[key] ?? key;
    if (keys.has(target) && typeof value === 'boolean')
      (settings.display_components as Record<string, boolean>)[target] = value;
  }
  if (typeof r.update_interval === 'number' && r.update_interval >= 0.5 && r.update_interval <= 60)
    settings.update_interval = r.update_interval;
  else if (r.update_interval !== undefined) problems.push(`update_interval ${JSON.stringify(r.update_interval)}`);
  if (typeof r.csv_file_path === 'string') {
    const name = r.csv_file_path.split('/').pop() ?? '';
    if (/^[A-Za-z0-9._-]+\.csv$/.test(name) && name.length <= 200) {
      // The original's default path named a file no script wrote; the client library writes experiment_data.csv.
      settings.csv_file_path = name === 'bioreactor_data.csv' ? settings.csv_file_path : name;
    } else problems.push(`csv_file_path ${JSON.stringify(r.csv_file_path)}`);
  }
  return { settings, problems };
}

export class SettingsStore extends EventEmitter<{ change: [DashboardSettings] }> {
  private readonly path: string;
  private current: DashboardSettings;

  constructor(configDir: string, onProblem: (message: string) => void = () => undefined) {
    super();
    this.path = join(configDir, SETTINGS_FILE);
    let raw: unknown;
    try {
      raw = readJsonFile(this.path);
    } catch (err) {
      onProblem(`${this.path} is not valid JSON (${(err as Error).message}); using defaults until settings are saved`);
    }
    const { settings, problems } = normalizeSettings(raw);
    if (problems.length > 0) onProblem(`${this.path}: ignored invalid ${problems.join(', ')}; using defaults for them`);
    this.current = settings;
  }

  get(): DashboardSettings {
    return structuredClone(this.current);
  }

  /** Saves settings the route has already validated against the schema, then tells every follower. */
  save(settings: DashboardSettings): DashboardSettings {
    const clean = Value.Clean(DashboardSettings, structuredClone(settings)) as DashboardSettings;
    writeJsonFile(this.path, clean);
    this.current = clean;
    this.emit('change', this.get());
    return this.get();
  }
}
