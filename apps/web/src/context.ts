// The web server's long-lived parts, built once in app.ts and handed to every route plugin.
import type { HubClient } from './hub-client.js';
import type { HubEventRelay } from './hub-events.js';
import type { AccountStore } from './identity/accounts.js';
import type { SessionControl } from './identity/session.js';
import type { SignInLimiter } from './identity/sign-in-limiter.js';
import type { LiveHub } from './live/live-hub.js';
import type { Mailer } from './notify/mailer.js';
import type { LabSettingsStore, NotificationPrefsStore } from './store/lab-store.js';
import type { SettingsStore } from './store/settings-store.js';

export interface WebContext {
  hub: HubClient;
  accounts: AccountStore;
  sessions: SessionControl;
  /** Delays after failed sign-ins (and failed current passwords), per client and name, client, and name. */
  signInLimiter: SignInLimiter;
  settings: SettingsStore;
  /** The lab's name, time zone and whether live rows are shared. */
  lab: LabSettingsStore;
  /** Each user's notification choices. */
  notifications: NotificationPrefsStore;
  /** E-mails when experiments end; undefined without BIOREACTOR_SMTP_URL. */
  mailer: Mailer | undefined;
  /** Every reactor's live data, pushed through the hub. */
  live: LiveHub;
  hubEvents: HubEventRelay;
  /** Directory of the built UI (index.html + assets). */
  uiDir: string;
}
