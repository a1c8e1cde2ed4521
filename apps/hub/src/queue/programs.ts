// Programs submitted through the queue (docs/programs.md, "Through the hub"): the document as JSON or YAML text,
// its shape checked with the shared schema, kept as canonical JSON so that the same program always has the same hash.
import { createHash } from 'node:crypto';
import { ApiError, programShapeProblems } from '@bioreactor/api';
import { parse as parseYaml, YAMLParseError } from 'yaml';

/** Largest program document, as canonical JSON (the node takes documents up to this size). */
export const MAX_PROGRAM_BYTES = 256 * 1024;

/** JSON with every object's keys sorted and no spaces: one text per document, whatever order it was written in. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** SHA-256 (hex) of a program's canonical JSON: what pre-flights and estimates match programs by. */
export function programSha256(canonical: string): string {
  return createHash('sha256').update(canonical).digest('hex');
}

/** A YAML (or JSON) text as the value it stands for; a syntax error names its line and column. */
function parseText(text: string): unknown {
  try {
    return parseYaml(text, { maxAliasCount: 100, prettyErrors: true });
  } catch (err) {
    if (!(err instanceof YAMLParseError)) throw err;
    const pos = err.linePos?.[0];
    // The pretty message ends with where and the line itself; the position is given apart.
    const first = (err.message.split('\n')[0] ?? 'not YAML').replace(/ at line \d+, column \d+:?$/, '');
    throw new ApiError(
      'VALIDATION_FAILED',
      `The program cannot be read as YAML or JSON${pos ? ` at line ${pos.line}, column ${pos.col}` : ''}: ${first}`,
      [{ field: 'program', message: first, ...(pos ? { line: pos.line, column: pos.col } : {}) }],
    );
  }
}

/**
 * A submitted program (the document, or its YAML or JSON text) checked against the document's schema: its canonical
 * JSON and name. Every problem comes back at once, each at its path under `program`.
 */
export function readProgram(input: unknown): { canonical: string; name: string } {
  if (typeof input === 'string' && Buffer.byteLength(input) > MAX_PROGRAM_BYTES)
    throw new ApiError('PAYLOAD_TOO_LARGE', `A program is limited to ${MAX_PROGRAM_BYTES / 1024} KiB`);
  const doc = typeof input === 'string' ? parseText(input) : input;
  const problems = programShapeProblems(doc).map((p) => {
    if (!p.field) return { ...p, field: 'program', message: `program: ${p.message.replace(/^\(document\) /, '')}` };
    return { ...p, field: `program.${p.field}`, message: `program.${p.message}` };
  });
  if (problems.length > 0) {
    throw new ApiError(
      'VALIDATION_FAILED',
      `The program is not a valid document (docs/programs.md): ${problems.map((p) => p.message).join('; ')}`,
      problems,
    );
  }
  const canonical = canonicalJson(doc);
  if (Buffer.byteLength(canonical) > MAX_PROGRAM_BYTES)
    throw new ApiError('PAYLOAD_TOO_LARGE', `A program is limited to ${MAX_PROGRAM_BYTES / 1024} KiB`);
  return { canonical, name: (doc as { name: string }).name };
}
