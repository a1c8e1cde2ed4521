// The three services built in this test process (node and hub listening on loopback, the web server by inject),
// with strict response checking, a fresh data folder each and simulated hardware: for fast contract-level suites.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Service } from '@bioreactor/service-kit';
import { buildApp as buildHub } from '../../../apps/hub/src/app.js';
import { loadConfig as hubConfig } from '../../../apps/hub/src/config.js';
import { buildApp as buildNode } from '../../../apps/node/src/app.js';
import { loadConfig as nodeConfig } from '../../../apps/node/src/config.js';
import { buildApp as buildWeb } from '../../../apps/web/src/app.js';
import { loadConfig as webConfig } from '../../../apps/web/src/config.js';
import { SIMULATED_HARDWARE_FILE, tempDir } from '../../../bench/lib/system.js';

export interface InProcessSystem {
  node: Service;
  hub: Service;
  web: Service;
  nodeUrl: string;
  hubUrl: string;
  dir: string;
  close(): Promise<void>;
}

export async function startInProcess(opts: { token?: string; adminPassword?: string } = {}): Promise<InProcessSystem> {
  const dir = tempDir('bioreactor-reliability-');
  const token: Record<string, string> = opts.token ? { BIOREACTOR_API_TOKEN: opts.token } : {};
  const node = await buildNode(
    nodeConfig({
      ...token,
      LOG_LEVEL: 'ERROR',
      HARDWARE_MODE: 'simulation',
      DATA_DIR: join(dir, 'node'),
      BIOREACTOR_HARDWARE_CONFIG: SIMULATED_HARDWARE_FILE,
      BIOREACTOR_RUNNER: 'local',
      BIOREACTOR_EXPERIMENT_STOP_GRACE_S: '1',
    }),
    { logger: false, strictResponses: true },
  );
  const nodeUrl = await node.listen({ port: 0, host: '127.0.0.1' });
  const hub = await buildHub(
    hubConfig({
      ...token,
      LOG_LEVEL: 'ERROR',
      DATA_DIR: join(dir, 'hub'),
      BIOREACTOR_NODE_API_URL: nodeUrl,
      BIOREACTOR_NODE_TIMEOUT_MS: '3000',
    }),
    { logger: false, strictResponses: true },
  );
  const hubUrl = await hub.listen({ port: 0, host: '127.0.0.1' });
  const webEnv: Record<string, string> = {
    ...token,
    LOG_LEVEL: 'ERROR',
    BIOREACTOR_CONFIG_DIR: join(dir, 'web'),
    BIOREACTOR_HUB_API_URL: hubUrl,
    BIOREACTOR_NODE_API_URL: nodeUrl,
  };
  if (opts.adminPassword) webEnv.BIOREACTOR_ADMIN_PASSWORD = opts.adminPassword;
  const web = await buildWeb(webConfig(webEnv), { logger: false, strictResponses: true });
  return {
    node,
    hub,
    web,
    nodeUrl,
    hubUrl,
    dir,
    close: async () => {
      await web.close();
      await hub.close();
      await node.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Every route of a service as its OpenAPI document lists it. */
export interface OpenApiOperation {
  method: string;
  path: string;
  parameters: { name: string; in: string; required?: boolean; schema?: JsonSchema }[];
  body?: JsonSchema;
}

export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
}

export async function operationsOf(app: Service): Promise<OpenApiOperation[]> {
  const spec = (await app.inject({ url: '/openapi.json' })).json() as {
    paths: Record<string, Record<string, { parameters?: OpenApiOperation['parameters']; requestBody?: unknown }>>;
  };
  const ops: OpenApiOperation[] = [];
  for (const [path, methods] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
      const body = (op.requestBody as { content?: Record<string, { schema?: JsonSchema }> } | undefined)?.content?.[
        'application/json'
      ]?.schema;
      const entry: OpenApiOperation = { method: method.toUpperCase(), path, parameters: op.parameters ?? [] };
      if (body) entry.body = body;
      ops.push(entry);
    }
  }
  return ops;
}

/** Fills `{name}` path parameters (OpenAPI style) with URL-encoded values. */
export function fillPath(path: string, params: Record<string, string>): string {
  return path.replace(/\{([^}]+)\}/g, (_, name: string) => encodeURIComponent(params[name] ?? 'x'));
}

/** Routes that stream without end (Server-Sent Events); they are fuzzed only through their one-shot forms. */
export function isEndlessStream(path: string): boolean {
  return path.endsWith('/stream') || path.endsWith('/events');
}
