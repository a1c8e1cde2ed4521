// The node's configuration: environment variables (the guide's names), validated once at start.
import { LOG_LEVELS, loadEnv } from '@bioreactor/service-kit';
import { type Static, Type } from 'typebox';

export const NodeEnv = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 9000, description: 'an integer port 0-65535' }),
  HOST: Type.String({ default: '0.0.0.0', description: 'Interface to listen on' }),
  HARDWARE_MODE: Type.Optional(
    Type.Union([Type.Literal('real'), Type.Literal('simulation')], {
      description: 'real drives the Pi’s buses; simulation runs the vessel model. Overrides the hardware file',
    }),
  ),
  LOG_LEVEL: Type.Union(
    LOG_LEVELS.map((l) => Type.Literal(l)),
    { default: 'INFO' },
  ),
  DATA_DIR: Type.String({ default: 'data', description: 'Experiment data (experiments/{id}/…)' }),
  HOST_DATA_PATH: Type.Optional(
    Type.String({ description: 'Host path of DATA_DIR when the node itself runs in a container (bind mounts)' }),
  ),
  BIOREACTOR_HARDWARE_CONFIG: Type.String({
    default: 'config_hardware.json',
    description: 'The hardware file (the guide’s config_hardware.py as JSON)',
  }),
  BIOREACTOR_API_TOKEN: Type.Optional(
    Type.String({ minLength: 16, description: 'Shared service token (16+ characters)' }),
  ),
});
export type NodeConfig = Static<typeof NodeEnv>;

export function loadConfig(env: Record<string, string | undefined>): NodeConfig {
  return loadEnv(NodeEnv, env);
}
