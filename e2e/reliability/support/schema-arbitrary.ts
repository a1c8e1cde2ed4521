// fast-check values from a route's JSON Schema: mostly well-formed (so requests reach the handlers), mixed with
// values of the wrong type, out of range, hostile strings and missing or extra fields.
import fc from 'fast-check';
import type { JsonSchema } from './in-process.js';

export const hostileString = fc.constantFrom(
  '',
  ' ',
  '../../../etc/passwd',
  '..%2F..%2Fetc%2Fpasswd',
  '\u0000',
  '%00',
  "'; DROP TABLE experiments; --",
  '<script>alert(1)</script>',
  '\u202e\ud83d\ude00',
  'a'.repeat(5000),
  '-1',
  'NaN',
  '1e309',
  'null',
  '{}',
);

const junk: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  hostileString,
  fc.constantFrom(-1, 0, 1e308, -1e308, 2 ** 53, 0.5, true, null),
);

function typeOf(schema: JsonSchema): string | undefined {
  return Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;
}

/** A value the schema accepts (roughly: patterns are not followed), or, one time in four, one it does not. */
export function fromSchema(schema: JsonSchema | undefined, depth = 0): fc.Arbitrary<unknown> {
  if (!schema || depth > 4) return junk;
  return fc.oneof({ weight: 3, arbitrary: valid(schema, depth) }, { weight: 1, arbitrary: junk });
}

function valid(schema: JsonSchema, depth: number): fc.Arbitrary<unknown> {
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.enum) return fc.constantFrom(...schema.enum);
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives?.length) return fc.oneof(...alternatives.map((s) => valid(s, depth + 1)));
  switch (typeOf(schema)) {
    case 'integer':
      return fc.integer({ min: Math.ceil(schema.minimum ?? -1000), max: Math.floor(schema.maximum ?? 100_000) });
    case 'number':
      return fc.double({ min: schema.minimum ?? -1000, max: schema.maximum ?? 100_000, noNaN: true });
    case 'boolean':
      return fc.boolean();
    case 'string':
      return fc.oneof(
        fc.string({ minLength: schema.minLength ?? 0, maxLength: Math.min(schema.maxLength ?? 40, 40) }),
        hostileString,
      );
    case 'array':
      return fc.array(fromSchema(schema.items, depth + 1), { maxLength: 6 });
    case 'object': {
      const props = schema.properties ?? {};
      const shape: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [k, s] of Object.entries(props)) shape[k] = fromSchema(s, depth + 1);
      return fc
        .tuple(
          fc.record(shape, { requiredKeys: (schema.required ?? []).filter((k) => k in props) }),
          fc.dictionary(fc.string({ maxLength: 12 }), junk, { maxKeys: 2 }),
        )
        .map(([known, extra]) => ({ ...extra, ...known }));
    }
    default:
      return junk;
  }
}

/** Query-string and path values are text on the wire. */
export function asText(value: unknown): string {
  return typeof value === 'string' ? value : (JSON.stringify(value) ?? '');
}
