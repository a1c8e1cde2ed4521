// Browser entry: the page frame (navigation, connection state, account) and the page for the current path.
import { lazy, Suspense } from 'react';
import { createRoot } from 'react-dom/client';
import { HubEventsProvider, useHubConnected } from './hub-events.js';
import { NotificationWatcher } from './notifications.js';
import { AccountPage } from './pages/account-page.js';
import { DashboardPage } from './pages/dashboard-page.js';
import { ExperimentPage } from './pages/experiment-page.js';
import { HomePage } from './pages/home-page.js';
import { MyExperimentsPage } from './pages/my-experiments-page.js';
import { QueuePage } from './pages/queue-page.js';
import { SettingsPage } from './pages/settings-page.js';
import { Link, RouterProvider, usePath } from './router.js';
import { SessionProvider, useSession } from './session.js';
import { TimeZoneProvider, useTimeZone } from './time-zone.js';
import './styles.css';

// The script editor (CodeMirror) is the largest part of the bundle; only the upload page loads it.
const UploadPage = lazy(() => import('./pages/upload-page.js').then((m) => ({ default: m.UploadPage })));
// The lab manager's pages are for one person; nobody else downloads them.
const AdminPage = lazy(() => import('./pages/admin-page.js').then((m) => ({ default: m.AdminPage })));

const NAV = [
  { href: '/', label: 'Overview' },
  { href: '/upload', label: 'Upload' },
  { href: '/queue', label: 'Queue' },
  { href: '/my-experiments', label: 'My experiments' },
  { href: '/dashboard', label: 'Dashboard' },
  { href: '/settings', label: 'Settings' },
];

function Page() {
  const path = usePath();
  // A change of the zone times are shown in re-renders the whole page (its state kept).
  useTimeZone();
  const experiment = path.match(/^\/experiment\/([A-Za-z0-9_-]+)\/?$/);
  if (experiment?.[1]) return <ExperimentPage id={experiment[1]} />;
  if (/^\/admin(\/(runs|users|nodes|settings))?\/?$/.test(path)) return <AdminPage />;
  switch (path.replace(/\/+$/, '') || '/') {
    case '/':
      return <HomePage />;
    case '/upload':
      return <UploadPage />;
    case '/queue':
      return <QueuePage />;
    case '/my-experiments':
      return <MyExperimentsPage />;
    case '/dashboard':
      return <DashboardPage />;
    case '/settings':
      return <SettingsPage />;
    case '/account':
      return <AccountPage />;
    default:
      return (
        <div className="card" data-testid="not-found">
          <h1>Page not found</h1>
          <p>
            There is no page at <code>{path}</code>: the link may be old, or the address mistyped.
          </p>
          <p>
            <Link href="/">Go to the overview</Link> · <Link href="/my-experiments">My experiments</Link> ·{' '}
            <Link href="/queue">Queue</Link>
          </p>
        </div>
      );
  }
}

function Header() {
  const path = usePath();
  const { session, isAdmin } = useSession();
  const hubConnected = useHubConnected();
  const nav = isAdmin ? [...NAV, { href: '/admin', label: 'Lab manager' }] : NAV;
  const active = (href: string) => (href === '/' ? path === '/' : path.startsWith(href));
  return (
    <header className="topbar">
      <div className="topbar-inner">
        <Link href="/" className="brand">
          <span className="brand-mark" aria-hidden="true">
            ◉
          </span>
          Bioreactor
        </Link>
        <nav className="nav" aria-label="Main">
          {nav.map((n) => (
            <Link
              key={n.href}
              href={n.href}
              className={active(n.href) ? 'active' : ''}
              aria-current={active(n.href) ? 'page' : undefined}
            >
              {n.label}
            </Link>
          ))}
        </nav>
        <div className="topbar-right">
          <span
            className={`dot ${hubConnected ? 'dot-ok' : 'dot-bad'}`}
            title={hubConnected ? 'Live updates from the hub' : 'Not receiving live updates from the hub'}
            role="img"
            aria-label={hubConnected ? 'Live updates on' : 'Live updates paused'}
            data-testid="hub-connection"
          />
          <Link href="/account" className="account-link" data-testid="account-link">
            {session?.user ? (
              <>
                {session.user.username}
                {session.user.role === 'admin' && <span className="badge badge-admin">admin</span>}
              </>
            ) : (
              'Sign in'
            )}
          </Link>
        </div>
      </div>
    </header>
  );
}

function App() {
  return (
    <RouterProvider>
      <SessionProvider>
        <HubEventsProvider>
          <a href="#main" className="skip-link">
            Skip to the page
          </a>
          <Header />
          <NotificationWatcher />
          <TimeZoneProvider>
            <main className="content" id="main">
              <Suspense fallback={<div className="muted">Loading…</div>}>
                <Page />
              </Suspense>
            </main>
          </TimeZoneProvider>
          <footer className="footer">Bioreactor v3 · web server · hub · node</footer>
        </HubEventsProvider>
      </SessionProvider>
    </RouterProvider>
  );
}

const root = document.getElementById('root');
if (root) createRoot(root).render(<App />);
