// E-mail when an experiment ends, through the lab's mail server (BIOREACTOR_SMTP_URL), to the users who asked for it
// on /account. The web server follows the hub's events for as long as it runs (HubEventRelay), sees each experiment
// reach its end, and sends one message per experiment to its owner's address.
import { hostname } from 'node:os';
import type { HubExperiment } from '@bioreactor/api';
import { createTransport, type Transporter } from 'nodemailer';
import { summarizeFailure } from '../failure-summary.js';
import type { HubEvent, HubEventRelay } from '../hub-events.js';
import { type NotificationPrefsStore, notificationKey } from '../store/lab-store.js';

const FINAL = new Set(['completed', 'failed', 'cancelled', 'interrupted']);
/** An end reported longer ago than this is old news (an event for an old experiment: a note changed), not mailed. */
const FRESH_MS = 15 * 60 * 1000;
/** Experiments already mailed about, remembered so a repeated event sends nothing; the oldest are forgotten. */
const REMEMBERED = 10_000;

export interface MailerOptions {
  smtpUrl: string;
  from?: string | undefined;
  /** Where users open the web server, for the link to the experiment. */
  publicUrl?: string | undefined;
  prefs: NotificationPrefsStore;
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
  now?: () => number;
  /** Tests pass their own transport. */
  transport?: Transporter;
}

export class Mailer {
  private readonly transport: Transporter;
  private readonly sent = new Set<string>();
  private unsubscribe: (() => void) | undefined;
  private readonly from: string;

  constructor(private readonly opts: MailerOptions) {
    this.transport = opts.transport ?? createTransport(opts.smtpUrl);
    this.from = opts.from ?? `Bioreactor <bioreactor@${hostname()}>`;
  }

  /** Follows the hub's events from now on (this keeps the web server's one connection to the hub open). */
  start(events: HubEventRelay): void {
    this.unsubscribe ??= events.subscribe((e) => void this.onEvent(e));
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.transport.close();
  }

  private async onEvent({ event, data }: HubEvent): Promise<void> {
    if (event !== 'experiment.updated') return;
    const e = (data as { experiment?: HubExperiment }).experiment;
    if (!e || !FINAL.has(e.status) || this.sent.has(e.experiment_id)) return;
    const ended = e.completed_at ? Date.parse(e.completed_at) : Number.NaN;
    if (!Number.isFinite(ended) || (this.opts.now ?? Date.now)() - ended > FRESH_MS) return;
    const prefs = this.opts.prefs.get(notificationKey(e.user_session_id));
    if (!prefs.email_on_end || !prefs.email) return;
    this.sent.add(e.experiment_id);
    for (const id of this.sent) {
      if (this.sent.size <= REMEMBERED) break;
      this.sent.delete(id);
    }
    await this.send(prefs.email, e);
  }

  private async send(to: string, e: HubExperiment): Promise<void> {
    const name = e.name ?? e.experiment_id.slice(0, 8);
    const failure = summarizeFailure(e.error_message, e.exit_code);
    const link = this.opts.publicUrl
      ? `${this.opts.publicUrl.replace(/\/+$/, '')}/experiment/${e.experiment_id}`
      : null;
    const lines = [
      `Your experiment ${name} (${e.experiment_id}) is ${e.status}.`,
      '',
      ...(e.status === 'completed' ? ['Its results are ready to download.'] : []),
      ...(failure ? [`What happened: ${failure.summary}`] : []),
      ...(e.started_at ? [`Started: ${e.started_at}`] : []),
      ...(e.completed_at ? [`Ended: ${e.completed_at}`] : []),
      ...(link ? ['', `Open it: ${link}`] : []),
      '',
      'You get this because you asked for an e-mail when your experiments end; turn it off on the Account page.',
    ];
    try {
      await this.transport.sendMail({
        from: this.from,
        to,
        subject: `Experiment ${name} ${e.status}`,
        text: `${lines.join('\n')}\n`,
      });
      this.opts.log.info({ experiment_id: e.experiment_id }, 'end-of-experiment e-mail sent');
    } catch (err) {
      // The mail server's problem is the lab's to fix; it is logged, and the experiment is not mailed again.
      this.opts.log.warn({ experiment_id: e.experiment_id, err: (err as Error).message }, 'e-mail not sent');
    }
  }
}
