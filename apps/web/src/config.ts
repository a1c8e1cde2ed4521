// The web server's configuration: environment variables (the guide's names), validated once at start.
import { LOG_LEVELS, loadEnv } from '@bioreactor/service-kit';
import { type Static, Type } from 'typebox';

const Url = (def: string, what: string) =>
  Type.String({ default: def, pattern: '^https?://[^\\s]+$', description: `an http(s) URL of the ${what}` });

export const WebEnv = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000, description: 'an integer port 0-65535' }),
  HOST: Type.String({ default: '0.0.0.0', description: 'Interface to listen on' }),
  BIOREACTOR_HUB_API_URL: Url('http://bioreactor-hub:8000', 'hub'),
  // Not read by the web server (live data comes through the hub); kept so an environment shared with the hub, which
  // may name several nodes, still starts it.
  BIOREACTOR_NODE_API_URL: Type.Optional(
    Type.String({
      pattern: '^https?://[^\\s,]+(,\\s*https?://[^\\s,]+)*$',
      description: 'the node URL(s) the hub drives, comma-separated; unused by the web server',
    }),
  ),
  LOG_LEVEL: Type.Union(
    LOG_LEVELS.map((l) => Type.Literal(l)),
    { default: 'INFO' },
  ),
  BIOREACTOR_CONFIG_DIR: Type.String({ default: 'config', description: 'Dashboard settings, accounts, session key' }),
  BIOREACTOR_API_TOKEN: Type.Optional(
    Type.String({ minLength: 16, description: 'Shared service token (16+ characters)' }),
  ),
  BIOREACTOR_SESSION_SECRET: Type.Optional(
    Type.String({
      minLength: 32,
      description: 'Key that signs session cookies (32+ characters); unset: generated once into the config dir',
    }),
  ),
  BIOREACTOR_ADMIN_USER: Type.String({
    default: 'admin',
    pattern: '^[A-Za-z0-9_.-]{3,32}$',
    description: 'Name of the admin account (3-32 letters, digits, _ . -)',
  }),
  BIOREACTOR_ADMIN_PASSWORD: Type.Optional(
    Type.String({ minLength: 8, description: 'Password of the admin account (8+ characters); unset: no admin' }),
  ),
  BIOREACTOR_SECURE_COOKIES: Type.Boolean({
    default: false,
    description: 'true when browsers reach the web server over HTTPS (cookies get the Secure flag)',
  }),
  BIOREACTOR_TRUST_PROXY: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        'Reverse proxies whose X-Forwarded-For names the browser: comma-separated addresses or CIDR ranges, or loopback',
    }),
  ),
  BIOREACTOR_SMTP_URL: Type.Optional(
    Type.String({
      pattern: '^smtps?://[^\\s]+$',
      description:
        "The lab's mail server for notifications: smtp://host:25, smtp://user:password@host:587 (STARTTLS when offered) or smtps://host:465; unset: no e-mail",
    }),
  ),
  BIOREACTOR_MAIL_FROM: Type.Optional(
    Type.String({ minLength: 3, description: 'Sender of notification e-mails (default: bioreactor@<host name>)' }),
  ),
  BIOREACTOR_PUBLIC_URL: Type.Optional(
    Type.String({
      pattern: '^https?://[^\\s]+$',
      description: 'The address users open the web server at, for links in e-mails (e.g. http://bioreactor.lab:3000)',
    }),
  ),
  BIOREACTOR_UI_DIR: Type.Optional(
    Type.String({ description: 'Built UI to serve (default: apps/web/ui/dist beside the sources)' }),
  ),
});
export type WebConfig = Static<typeof WebEnv>;

export function loadConfig(env: Record<string, string | undefined>): WebConfig {
  return loadEnv(WebEnv, env);
}
