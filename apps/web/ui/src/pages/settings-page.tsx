// Dashboard settings: series shown, update interval and the CSV followed; saved and applied at once. They are the
// whole lab's, so only the admin changes them; everyone else sees them read-only, with the reason.
import { type DashboardSettings, DISPLAYED_READINGS } from '@bioreactor/api';
import { type FormEvent, useEffect, useState } from 'react';
import { ApiFailure, call, client, errorText } from '../api.js';
import { Link } from '../router.js';
import { useSession } from '../session.js';

/** One checkbox per displayed reading's setting (readings.ts), in the table's order. */
const SERIES = DISPLAYED_READINGS.filter((r, i, all) => all.findIndex((o) => o.setting === r.setting) === i).map(
  (r) => ({ key: r.setting, label: r.display.settingLabel ?? `${r.spec.label} (${r.spec.symbol})` }),
);

export function SettingsPage() {
  const { session, isAdmin } = useSession();
  const [settings, setSettings] = useState<DashboardSettings>();
  const [interval, setIntervalText] = useState('');
  const [message, setMessage] = useState<{ ok: boolean; text: string }>();
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    call(client.GET('/api/settings/dashboard')).then(
      (s) => {
        setSettings(s);
        setIntervalText(String(s.update_interval));
      },
      (err: unknown) => setMessage({ ok: false, text: errorText(err) }),
    );
  }, []);

  if (!settings) return <div className="page muted">{message?.text ?? 'Loading…'}</div>;

  const save = async (event: FormEvent) => {
    event.preventDefault();
    setMessage(undefined);
    const updateInterval = Number(interval);
    if (!Number.isFinite(updateInterval) || updateInterval < 0.5 || updateInterval > 60) {
      setMessage({ ok: false, text: 'The update interval must be between 0.5 and 60 seconds.' });
      return;
    }
    setBusy(true);
    try {
      const res = await call(
        client.POST('/api/settings/dashboard', { body: { ...settings, update_interval: updateInterval } }),
      );
      setSettings(res.settings);
      setMessage({ ok: true, text: res.message });
    } catch (err) {
      const detail =
        err instanceof ApiFailure && err.problems.length > 0 ? err.problems.map((p) => p.message).join('; ') : '';
      setMessage({ ok: false, text: detail || errorText(err) });
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="page">
      <div className="page-head">
        <h1>Dashboard settings</h1>
        <p className="muted">
          Shared by everyone using this web server; changes apply to open dashboards at once.{' '}
          <Link href="/dashboard">Open the dashboard</Link>
        </p>
      </div>
      {!isAdmin && session && (
        <div className="notice notice-warn" role="note" data-testid="settings-read-only">
          {session.admin_available ? (
            <>
              These settings apply to every dashboard in the lab, so an admin must change them.{' '}
              <Link href="/account">Sign in as the admin</Link> to change them.
            </>
          ) : (
            'These settings apply to every dashboard in the lab, so an admin must change them, and this web server has no admin (BIOREACTOR_ADMIN_PASSWORD is not set).'
          )}
        </div>
      )}
      <form className="card settings-form" onSubmit={save} data-testid="settings-form">
        <fieldset disabled={!isAdmin}>
          <legend>Series shown</legend>
          {SERIES.map((s) => (
            <label key={s.key} className="check">
              <input
                type="checkbox"
                data-testid={`setting-${s.key}`}
                checked={(settings.display_components as Record<string, boolean | undefined>)[s.key] ?? true}
                onChange={(e) =>
                  setSettings({
                    ...settings,
                    display_components: { ...settings.display_components, [s.key]: e.target.checked },
                  })
                }
              />
              {s.label}
            </label>
          ))}
        </fieldset>
        <label>
          Update interval, seconds (0.5–60)
          <input
            type="number"
            min={0.5}
            max={60}
            step={0.5}
            value={interval}
            onChange={(e) => setIntervalText(e.target.value)}
            disabled={!isAdmin}
            data-testid="setting-interval"
          />
        </label>
        <label>
          CSV file followed during experiments
          <input
            value={settings.csv_file_path}
            onChange={(e) => setSettings({ ...settings, csv_file_path: e.target.value })}
            pattern="[A-Za-z0-9._\-]+\.csv"
            title="A file name in the experiment's output directory, ending in .csv"
            disabled={!isAdmin}
            data-testid="setting-csv"
          />
          <span className="muted small">
            A file name in the experiment's output directory, e.g. experiment_data.csv
          </span>
        </label>
        {message && (
          <div
            className={`notice ${message.ok ? 'notice-ok' : 'notice-error'}`}
            role="status"
            data-testid="settings-message"
          >
            {message.text}
          </div>
        )}
        {isAdmin && (
          <button type="submit" className="btn btn-primary" disabled={busy} data-testid="settings-save">
            {busy ? 'Saving…' : 'Save'}
          </button>
        )}
      </form>
    </div>
  );
}
