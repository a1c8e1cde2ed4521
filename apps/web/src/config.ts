// The web server's configuration: environment variables (the guide's names), validated once at start.
import { LOG_LEVELS, loadEnv } from '@bioreactor/service-kit';
import { type Static, Type } from 'typebox';

const Url = (def: string, what: string) =>
  Type.String({ default: def, pattern: '^https?://[^\\s]+$', description: `an http(s) URL of the ${what}` });

export const WebEnv = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000, description: 'an integer port 0-65535' }),
  HOST: Type.String({ default: '0.0.0.0', description: 'Interface to listen on' }),
  BIOREACTOR_HUB_API_URL: Url('http://bioreactor-hub:8000', 'hub'),
  BIOREACTOR_NODE_API_URL: Url('http://bioreactor-node:9000', 'node'),
  LOG_LEVEL: Type.Union(
    LOG_LEVELS.map((l) => Type.Literal(l)),
    { default: 'INFO' },
  ),
  BIOREACTOR_CONFIG_DIR: Type.String({ default: 'config', description: 'Dashboard settings, accounts, session key' }),
  BIOREACTOR_API_TOKEN: Type.Optional(
    Type.String({ minLength: 16, description: 'Shared service token (16+ characters)' }),
  ),
});
export type WebConfig = Static<typeof WebEnv>;

export function loadConfig(env: Record<string, string | undefined>): WebConfig {
  return loadEnv(WebEnv, env);
}
