// Builds the web server (pages, live dashboard, settings, accounts) without listening.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CSRF_HEADER_DOC, SYSTEM_VERSION } from '@bioreactor/api';
import { createService, type Service } from '@bioreactor/service-kit';
import compress from '@fastify/compress';
import type { WebConfig } from './config.js';
import type { WebContext } from './context.js';
import { HubClient } from './hub-client.js';
import { HubEventRelay } from './hub-events.js';
import { AccountStore } from './identity/accounts.js';
import { SessionRevocations } from './identity/revocations.js';
import { registerSessions, SESSION_COOKIE } from './identity/session.js';
import { SignInLimiter } from './identity/sign-in-limiter.js';
import { SigningKey } from './identity/signing-key.js';
import { LiveHub } from './live/live-hub.js';
import { Mailer } from './notify/mailer.js';
import { plainOutageMessages } from './outage.js';
import { registerRoutes } from './routes/index.js';
import { LabSettingsStore, NotificationPrefsStore } from './store/lab-store.js';
import { SettingsStore } from './store/settings-store.js';

export interface WebDeps {
  logger?: boolean;
  strictResponses?: boolean;
  /** The clock of sign-in limits and session lifetimes (tests move it instead of sleeping). */
  now?: () => number;
}

const DEFAULT_UI_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'ui', 'dist');

export async function buildApp(config: WebConfig, deps: WebDeps = {}): Promise<Service> {
  const configDir = config.BIOREACTOR_CONFIG_DIR;
  const now = deps.now ?? Date.now;
  // Read first: an accounts file (or list of signed-out sessions) that exists but cannot be read refuses the start.
  const accounts = new AccountStore(configDir, {
    username: config.BIOREACTOR_ADMIN_USER,
    password: config.BIOREACTOR_ADMIN_PASSWORD,
  });
  const revocations = new SessionRevocations(configDir, now);
  const app = await createService({
    name: 'bioreactor-web-server',
    version: SYSTEM_VERSION,
    description: 'Bioreactor web server: pages, uploads, live dashboard and settings.',
    logLevel: config.LOG_LEVEL,
    // Browsers never hold the service token (sessions and CSRF guard this API); the web server uses the token only
    // towards the hub and node.
    apiToken: false,
    strictResponses: deps.strictResponses,
    logger: deps.logger,
    trustProxy: config.BIOREACTOR_TRUST_PROXY,
    browser: { csrfHeader: CSRF_HEADER_DOC, sessionCookie: SESSION_COOKIE },
  });

  if (!config.BIOREACTOR_API_TOKEN) {
    app.log.warn(
      'BIOREACTOR_API_TOKEN is not set: the hub and node are called without the service token (development mode)',
    );
  }
  const hub = new HubClient(config.BIOREACTOR_HUB_API_URL, config.BIOREACTOR_API_TOKEN);
  const settings = new SettingsStore(configDir, (message) => app.log.warn(message));
  const lab = new LabSettingsStore(configDir, (message) => app.log.warn(message));
  const hubEvents = new HubEventRelay(hub, (message) => app.log.warn(message));
  // Live data comes only through the hub: it reaches every node, however many BIOREACTOR_NODE_API_URL names.
  const live = new LiveHub({
    hub,
    hubEvents,
    settings: () => settings.get(),
    lab: () => lab.get(),
    onProblem: (message) => app.log.warn(message),
  });
  settings.on('change', () => live.settingsChanged());
  lab.onChange(() => live.labChanged());
  const sessions = await registerSessions(app, {
    key: new SigningKey(configDir, config.BIOREACTOR_SESSION_SECRET),
    accounts,
    revocations,
    secureCookies: config.BIOREACTOR_SECURE_COOKIES,
    now,
  });

  const notifications = new NotificationPrefsStore(configDir, (message) => app.log.warn(message));
  const mailer = config.BIOREACTOR_SMTP_URL
    ? new Mailer({
        smtpUrl: config.BIOREACTOR_SMTP_URL,
        from: config.BIOREACTOR_MAIL_FROM,
        publicUrl: config.BIOREACTOR_PUBLIC_URL,
        prefs: notifications,
        log: app.log,
        ...(deps.now ? { now: deps.now } : {}),
      })
    : undefined;
  const ctx: WebContext = {
    hub,
    accounts,
    sessions,
    signInLimiter: new SignInLimiter(now),
    settings,
    lab,
    notifications,
    mailer,
    live,
    hubEvents,
    uiDir: config.BIOREACTOR_UI_DIR ?? DEFAULT_UI_DIR,
  };
  // Every reactor's history starts filling as soon as the server listens, so the first page load has a chart.
  app.addHook('onListen', async () => {
    live.start();
    mailer?.start(hubEvents);
  });
  app.addHook('onClose', async () => {
    mailer?.stop();
    live.stop();
    hubEvents.stop();
  });
  // JSON and pages compressed as the browser accepts (event streams and zips are left alone); the built assets are
  // compressed once by the build and sent as they are (page-routes.ts).
  await app.register(compress, { global: true, threshold: 1024 });
  plainOutageMessages(app);
  await registerRoutes(app, config, ctx);
  return app;
}
