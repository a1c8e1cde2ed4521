// Reads a service's configuration from environment variables against one TypeBox schema.
import type { Static, TObject, TSchema } from 'typebox';
import { Value } from 'typebox/value';

/** Thrown when any variable is bad; its message lists every one of them. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

type JsonSchemaLike = TSchema & {
  type?: string;
  description?: string;
  default?: unknown;
  anyOf?: JsonSchemaLike[];
  const?: unknown;
  enum?: unknown[];
};

function describe(schema: JsonSchemaLike): string {
  if (schema.anyOf) return schema.anyOf.map((s) => JSON.stringify(s.const)).join(' | ');
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(' | ');
  return schema.description ?? schema.type ?? 'a valid value';
}

function coerce(raw: string, schema: JsonSchemaLike): unknown {
  switch (schema.type) {
    case 'integer':
    case 'number':
      return raw.trim() === '' ? raw : Number(raw);
    case 'boolean':
      if (/^(1|true|yes|on)$/i.test(raw)) return true;
      if (/^(0|false|no|off)$/i.test(raw)) return false;
      return raw;
    default:
      return raw;
  }
}

/**
 * Fills defaults, converts strings to the schema's types and validates. Property names are the
 * environment variable names. An empty variable counts as unset.
 */
export function loadEnv<T extends TObject>(
  schema: T,
  env: NodeJS.ProcessEnv | Record<string, string | undefined>,
): Static<T> {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  for (const [key, prop] of Object.entries(schema.properties) as [string, JsonSchemaLike][]) {
    const raw = env[key];
    if (raw === undefined || raw === '') {
      if (prop.default !== undefined) out[key] = prop.default;
      continue;
    }
    const value = coerce(raw, prop);
    if (!Value.Check(prop, value)) {
      problems.push(`${key}=${JSON.stringify(raw)} is not valid: expected ${describe(prop)}`);
      continue;
    }
    out[key] = value;
  }
  for (const key of schema.required ?? []) {
    if (out[key] === undefined && !problems.some((p) => p.startsWith(`${key}=`))) {
      problems.push(`${key} is required`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return out as Static<T>;
}

/** The guide's LOG_LEVEL words (INFO, DEBUG, WARNING, ERROR) mapped to pino's levels. */
export function pinoLevel(level: string): string {
  const l = level.toLowerCase();
  if (l === 'warning') return 'warn';
  if (l === 'critical') return 'fatal';
  return l;
}

export const LOG_LEVELS = [
  'DEBUG',
  'INFO',
  'WARNING',
  'ERROR',
  'debug',
  'info',
  'warning',
  'warn',
  'error',
  'trace',
  'fatal',
  'silent',
] as const;
