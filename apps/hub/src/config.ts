// The hub's configuration: environment variables (the guide's names), validated once at start.
import { LOG_LEVELS, loadEnv } from '@bioreactor/service-kit';
import { type Static, Type } from 'typebox';

export const HubEnv = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8000, description: 'an integer port 0-65535' }),
  HOST: Type.String({ default: '0.0.0.0', description: 'Interface to listen on' }),
  BIOREACTOR_NODE_API_URL: Type.String({
    default: 'http://bioreactor-node:9000',
    pattern: '^https?://[^,\\s]+(\\s*,\\s*https?://[^,\\s]+)*$',
    description: 'one node URL or a comma-separated list (http://host:9000,http://host2:9000)',
  }),
  LOG_LEVEL: Type.Union(
    LOG_LEVELS.map((l) => Type.Literal(l)),
    { default: 'INFO' },
  ),
  DATA_DIR: Type.String({ default: 'data', description: 'Queue database and exports' }),
  BIOREACTOR_API_TOKEN: Type.Optional(
    Type.String({ minLength: 16, description: 'Shared service token (16+ characters)' }),
  ),
});
export type HubConfig = Static<typeof HubEnv>;

export function loadConfig(env: Record<string, string | undefined>): HubConfig {
  return loadEnv(HubEnv, env);
}
