// Sign in, create an account (experiments then follow you across browsers), change the password, or sign out.
import type { WebSession } from '@bioreactor/api';
import { type FormEvent, useEffect, useState } from 'react';
import { call, client, errorText } from '../api.js';
import { notificationsSupported } from '../notifications.js';
import { Link } from '../router.js';
import { useSession } from '../session.js';

export function AccountPage() {
  const { session, setSession } = useSession();
  const [mode, setMode] = useState<'login' | 'register'>('login');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(undefined);
    setBusy(true);
    try {
      setSession(
        await call(
          client.POST(mode === 'login' ? '/api/account/login' : '/api/account/register', {
            body: { username: username.trim(), password },
          }),
        ),
      );
      setPassword('');
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  const logout = async () => {
    setSession(await call(client.POST('/api/account/logout')));
  };

  if (session?.user)
    return (
      <div className="page narrow">
        <div className="card">
          <h1>Signed in</h1>
          <p data-testid="signed-in-as">
            You are signed in as <strong>{session.user.username}</strong>
            {session.user.role === 'admin' ? ' (admin: you can reorder and manage the whole queue)' : ''}.
          </p>
          <p>
            <Link href="/my-experiments">My experiments</Link> · <Link href="/queue">Queue</Link>
          </p>
          <button type="button" className="btn" onClick={logout} data-testid="sign-out">
            Sign out
          </button>
        </div>
        <Notifications />
        {session.user.role === 'admin' ? (
          <div className="card">
            <h2>Password</h2>
            <p className="muted">
              The admin password is set by BIOREACTOR_ADMIN_PASSWORD on the server; changing it there and restarting the
              web server signs every admin session out.
            </p>
          </div>
        ) : (
          <ChangePassword onChanged={setSession} />
        )}
      </div>
    );

  return (
    <div className="page narrow">
      <div className="card">
        <h1>Account</h1>
        <div className="tabs">
          <button type="button" className={mode === 'login' ? 'tab active' : 'tab'} onClick={() => setMode('login')}>
            Sign in
          </button>
          <button
            type="button"
            className={mode === 'register' ? 'tab active' : 'tab'}
            onClick={() => setMode('register')}
            data-testid="tab-register"
          >
            Create account
          </button>
        </div>
        <p className="muted">
          {mode === 'login'
            ? 'Without an account, your experiments belong to this browser. Signed in, they follow you to any browser.'
            : 'Choose a name (3–32 letters, digits, _ . -) and a password of at least 8 characters.'}
        </p>
        <form onSubmit={submit} className="stack">
          <label>
            User name
            <input
              value={username}
              onChange={(e) => setUsername(e.target.value)}
              autoComplete="username"
              required
              data-testid="account-username"
            />
          </label>
          <label>
            Password
            <input
              type="password"
              value={password}
              onChange={(e) => setPassword(e.target.value)}
              autoComplete={mode === 'login' ? 'current-password' : 'new-password'}
              required
              data-testid="account-password"
            />
          </label>
          {error && (
            <div className="notice notice-error" role="alert" data-testid="account-error">
              {error}
            </div>
          )}
          <button type="submit" className="btn btn-primary" disabled={busy} data-testid="account-submit">
            {mode === 'login' ? 'Sign in' : 'Create account'}
          </button>
        </form>
        {session && (
          <p className="muted small">
            This browser's anonymous session: <span className="mono">{session.session_id}…</span>
          </p>
        )}
      </div>
      {session && <Notifications />}
    </div>
  );
}

/** Change the password: every other browser signed in to the account is signed out; this one stays signed in. */
function ChangePassword({ onChanged }: { onChanged: (s: WebSession) => void }) {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [message, setMessage] = useState<{ ok: boolean; text: string }>();
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setMessage(undefined);
    setBusy(true);
    try {
      onChanged(
        await call(client.POST('/api/account/password', { body: { current_password: current, new_password: next } })),
      );
      setCurrent('');
      setNext('');
      setMessage({ ok: true, text: 'Password changed; every other browser signed in to this account is signed out.' });
    } catch (err) {
      setMessage({ ok: false, text: errorText(err) });
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="card">
      <h2>Change password</h2>
      <form onSubmit={submit} className="stack" data-testid="password-form">
        <label>
          Current password
          <input
            type="password"
            value={current}
            onChange={(e) => setCurrent(e.target.value)}
            autoComplete="current-password"
            required
            data-testid="current-password"
          />
        </label>
        <label>
          New password (at least 8 characters)
          <input
            type="password"
            value={next}
            onChange={(e) => setNext(e.target.value)}
            autoComplete="new-password"
            minLength={8}
            required
            data-testid="new-password"
          />
        </label>
        {message && (
          <div
            className={`notice ${message.ok ? 'notice-ok' : 'notice-error'}`}
            role={message.ok ? 'status' : 'alert'}
            data-testid="password-message"
          >
            {message.text}
          </div>
        )}
        <button type="submit" className="btn btn-primary" disabled={busy} data-testid="password-submit">
          Change password
        </button>
      </form>
    </div>
  );
}

/** Whether this user wants a browser notification, or an e-mail, when one of their experiments ends. */
function Notifications() {
  const [prefs, setPrefs] = useState<{
    browser_on_end: boolean;
    email_on_end?: boolean | undefined;
    email?: string | null | undefined;
    email_available?: boolean | undefined;
  }>();
  const [email, setEmail] = useState('');
  const [message, setMessage] = useState<string>();
  useEffect(() => {
    call(client.GET('/api/account/notifications')).then(
      (p) => {
        setPrefs(p);
        setEmail(p.email ?? '');
      },
      (err: unknown) => setMessage(errorText(err)),
    );
  }, []);
  const save = async (change: { browser_on_end?: boolean; email_on_end?: boolean }, done: string) => {
    if (!prefs) return;
    setMessage(undefined);
    try {
      const next = await call(
        client.POST('/api/account/notifications', {
          body: {
            browser_on_end: change.browser_on_end ?? prefs.browser_on_end,
            email_on_end: change.email_on_end ?? prefs.email_on_end ?? false,
            email: email.trim() || null,
          },
        }),
      );
      setPrefs(next);
      setMessage(done);
    } catch (err) {
      setMessage(errorText(err));
    }
  };
  const toggleBrowser = async (next: boolean) => {
    if (next && notificationsSupported() && Notification.permission !== 'granted') {
      const permission = await Notification.requestPermission();
      if (permission !== 'granted') {
        setMessage(
          'The browser did not allow notifications: allow them for this site in its settings, then try again.',
        );
        return;
      }
    }
    await save(
      { browser_on_end: next },
      next ? 'You will be notified in this browser when one of your experiments ends.' : 'Browser notifications off.',
    );
  };
  return (
    <div className="card" data-testid="notifications">
      <h2>Notifications</h2>
      {!notificationsSupported() ? (
        <p className="muted">This browser cannot show notifications.</p>
      ) : (
        <label className="check">
          <input
            type="checkbox"
            checked={prefs?.browser_on_end ?? false}
            disabled={prefs === undefined}
            onChange={(e) => void toggleBrowser(e.target.checked)}
            data-testid="notify-on-end"
          />
          Notify me in this browser when one of my experiments ends (while a page of this site is open)
        </label>
      )}
      {prefs?.email_available && (
        <div className="stack" style={{ marginTop: '0.75rem' }}>
          <label>
            E-mail address
            <input
              type="email"
              value={email}
              onChange={(e) => setEmail(e.target.value)}
              placeholder="you@lab.example"
              data-testid="notify-email"
            />
          </label>
          <label className="check">
            <input
              type="checkbox"
              checked={prefs.email_on_end ?? false}
              onChange={(e) =>
                void save(
                  { email_on_end: e.target.checked },
                  e.target.checked ? 'You will get an e-mail when one of your experiments ends.' : 'E-mails off.',
                )
              }
              data-testid="notify-email-on-end"
            />
            E-mail me when one of my experiments ends
          </label>
        </div>
      )}
      {message && (
        <p className="small" role="status" data-testid="notify-message">
          {message}
        </p>
      )}
    </div>
  );
}
