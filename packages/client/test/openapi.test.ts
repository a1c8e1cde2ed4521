// The three OpenAPI documents: valid OpenAPI 3.1 (swagger-parser), a client can be built from them, and they are
// what is checked in (openapi/*.json and the generated client types).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SwaggerParser from '@apidevtools/swagger-parser';
import { ERROR_CATALOGUE } from '@bioreactor/api';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  buildDocuments,
  type DocumentedService,
  repoRoot,
  SERVICES,
  writeGenerated,
} from '../../../scripts/openapi.js';

// biome-ignore lint/suspicious/noExplicitAny: parsed JSON documents, walked by path
type Json = Record<string, any>;
let documents: Record<DocumentedService, Json>;

beforeAll(async () => {
  documents = (await buildDocuments()) as Record<DocumentedService, Json>;
}, 60_000);

function operations(doc: Json): { path: string; method: string; op: Json }[] {
  return Object.entries(doc.paths as Json).flatMap(([path, item]) =>
    Object.entries(item as Json).map(([method, op]) => ({ path, method, op: op as Json })),
  );
}

describe.each(SERVICES)('%s', (service) => {
  it('is a valid OpenAPI 3.1 document', async () => {
    const doc = documents[service];
    expect(doc.openapi).toBe('3.1.0');
    await SwaggerParser.validate(structuredClone(doc) as never);
  });

  it('names every operation once, describes every reply and lists catalogued errors', () => {
    const ids = new Set<string>();
    for (const { path, method, op } of operations(documents[service])) {
      const where = `${method.toUpperCase()} ${path}`;
      expect(op.operationId, where).toMatch(/^[a-z][A-Za-z0-9]*$/);
      expect(ids.has(op.operationId), `${where}: operationId ${op.operationId} twice`).toBe(false);
      ids.add(op.operationId);
      expect(op.summary, where).toBeTruthy();
      for (const [status, response] of Object.entries(op.responses as Json)) {
        const resolved = response.$ref
          ? documents[service].components.responses[String(response.$ref).split('/').pop() as string]
          : response;
        expect(resolved.description, `${where} ${status}`).not.toMatch(/^(Default Response)?$/);
        if (Number(status) >= 400) {
          const codes = Object.keys(resolved.content['application/json'].examples);
          for (const code of codes)
            expect(ERROR_CATALOGUE[code as 'INTERNAL'].status, `${where} ${code}`).toBe(Number(status));
          expect(resolved.content['application/json'].schema.$ref).toBe('#/components/schemas/ApiError');
        }
      }
      expect(Object.keys(op.responses), where).toContain('500');
      const success = Object.keys(op.responses).filter((s) => s.startsWith('2'));
      expect(success, where).toHaveLength(1);
      if (op.requestBody) expect(Object.keys(op.responses), where).toContain('400');
      if (service !== 'web' && path !== '/health') expect(Object.keys(op.responses), where).toContain('401');
    }
  });
});

it('the checked-in documents and client types are what npm run generate:client writes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bioreactor-generated-'));
  try {
    const written = await writeGenerated(dir);
    expect(written).toHaveLength(SERVICES.length * 2);
    const stale = written.filter(
      (path) => readFileSync(join(dir, path), 'utf8') !== readFileSync(join(repoRoot, path), 'utf8'),
    );
    expect(stale, `out of date: ${stale.join(', ')}; run npm run generate:client`).toEqual([]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);

describe('submitting a script', () => {
  it('the hub takes a form with a binary file, raw text and JSON, for a user, with an Idempotency-Key', () => {
    const op = documents.hub.paths['/api/experiments/start'].post;
    const content = op.requestBody.content;
    expect(Object.keys(content)).toEqual(
      expect.arrayContaining(['multipart/form-data', 'application/json', 'text/x-python', 'application/octet-stream']),
    );
    expect(content['multipart/form-data'].schema.properties.file).toMatchObject({ type: 'string', format: 'binary' });
    expect(content['application/json'].examples.script.value.script_content).toContain('bioreactor_client');
    const headers = op.parameters.filter((p: Json) => p.in === 'header').map((p: Json) => p.name);
    expect(headers).toEqual(expect.arrayContaining(['x-session-id', 'x-user-role', 'idempotency-key']));
    expect(Object.keys(op.responses)).toEqual(
      expect.arrayContaining(['200', '400', '401', '404', '413', '415', '422', '429', '500']),
    );
    expect(documents.hub.components.securitySchemes.serviceToken).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(documents.hub.paths['/health'].get.security).toEqual([]);
  });

  it('the web server takes a form or JSON, with the CSRF header', () => {
    const op = documents.web.paths['/api/experiments/upload'].post;
    expect(op.requestBody.content['multipart/form-data'].schema.properties.file.format).toBe('binary');
    const csrf = op.parameters.find((p: Json) => p.name === 'x-csrf-token');
    expect(csrf).toMatchObject({ in: 'header' });
    expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['403', '422', '429', '503']));
    expect(documents.web.paths['/api/queue'].get.parameters ?? []).toEqual([]);
  });
});
