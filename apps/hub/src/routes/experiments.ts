// Experiment routes: submit (JSON, raw script or multipart file), status, the caller's list, queue actions,
// and the node's logs, data and results streamed through.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { ApiError, hubRoutes, MAX_DURATION_CEILING_S, type Problem } from '@bioreactor/api';
import { jsonText, peerError, readForm, type Service } from '@bioreactor/service-kit';
import multipart from '@fastify/multipart';
import type { FastifyRequest } from 'fastify';
import type { HubConfig } from '../config.js';
import type { Hub } from '../hub.js';
import { requireAdmin, requireOwner, viewerOf } from './identity.js';

/** Content types taken as the script itself. */
const RAW_SCRIPT_TYPES = ['text/x-python', 'text/plain', 'application/x-python', 'application/octet-stream'];

/** A finished run's first series is one pass over its whole CSV on the node (millions of rows: seconds). */
const SERIES_TIMEOUT_MS = 60_000;

/** Text fields a form may have besides the file (name, max_duration_s, node, script_content and a few spare). */
const MAX_FORM_FIELDS = 20;

/** Shown wherever an upload goes wrong, so the fix is one copy away (with the address the caller used). */
export function workingUpload(host = 'localhost:8000'): string {
  const safeHost = /^[\w.:[\]-]+$/.test(host) ? host : 'localhost:8000';
  return `curl -X POST http://${safeHost}/api/experiments/start -H 'X-Session-ID: your-name' -H 'Content-Type: text/x-python' --data-binary @test_experiment.py`;
}

interface Submission {
  script?: string;
  bytes?: Buffer;
  name?: string | undefined;
  maxDurationS?: number | undefined;
  node?: string | undefined;
}

function invalidJson(detail: string, host: string | undefined): ApiError {
  return new ApiError(
    'INVALID_JSON',
    `The body is not valid JSON (${detail}). A script with quotes or line breaks cannot be pasted into a JSON string by the shell; send the file as it is instead: ${workingUpload(host)} (or as a form: curl -F file=@test_experiment.py …). See docs/queue.md`,
  );
}

function optionalString(v: unknown, field: string, max: number, problems: Problem[]): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') {
    problems.push({ field, message: `${field} must be a string` });
    return undefined;
  }
  if (v.length > max) problems.push({ field, message: `${field} is longer than ${max} characters` });
  return v;
}

function optionalDuration(v: unknown, limit: number, problems: Problem[]): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
    problems.push({ field: 'max_duration_s', message: 'max_duration_s must be a whole number of seconds, at least 1' });
    return undefined;
  }
  if (n > limit) {
    problems.push({ field: 'max_duration_s', message: `max_duration_s may be at most ${limit} s on this hub` });
    return undefined;
  }
  return n;
}

function fieldsOf(source: Record<string, unknown>, _config: HubConfig): Omit<Submission, 'script' | 'bytes'> {
  const problems: Problem[] = [];
  const out = {
    name: optionalString(source.name, 'name', 200, problems),
    // The limit itself is the duration policy's (hub.durations), checked with the node once the node is known.
    maxDurationS: optionalDuration(source.max_duration_s, MAX_DURATION_CEILING_S, problems),
    node: optionalString(source.node, 'node', 64, problems),
  };
  if (problems.length > 0) throw new ApiError('VALIDATION_FAILED', problems.map((p) => p.message).join('; '), problems);
  return out;
}

function safeName(filename: string | undefined): string | undefined {
  if (!filename) return undefined;
  const base = filename.split(/[\\/]/).pop() ?? '';
  const clean = base.replace(/[^\w.\- ]/g, '_').slice(0, 200);
  return clean === '' ? undefined : clean;
}

/** A form that works, for every message about a form. */
function workingForm(host: string | undefined): string {
  return workingUpload(host)
    .replace("-H 'Content-Type: text/x-python' --data-binary @test_experiment.py", '-F file=@test_experiment.py')
    .trim();
}

/** A raw body that is JSON for the JSON route ({"script_content": …}) sent as text: a mistake, never a script. */
function looksLikeJsonSubmission(bytes: Buffer): boolean {
  const text = bytes.subarray(0, 64).toString('utf8').trimStart();
  if (!/^\{\s*"(script_content|name|max_duration_s|node)"\s*:/.test(text)) return false;
  try {
    const parsed: unknown = JSON.parse(bytes.toString('utf8'));
    return typeof parsed === 'object' && parsed !== null && 'script_content' in parsed;
  } catch {
    return false;
  }
}

async function readSubmission(request: FastifyRequest, config: HubConfig): Promise<Submission> {
  const query = (request.query ?? {}) as Record<string, unknown>;
  if (request.isMultipart()) {
    const form = await readForm(request, {
      fileField: 'file',
      maxFileBytes: config.BIOREACTOR_MAX_SCRIPT_BYTES,
      maxFields: MAX_FORM_FIELDS,
      maxFieldBytes: config.BIOREACTOR_MAX_SCRIPT_BYTES,
      example: workingForm(request.headers.host),
    });
    const fields: Record<string, unknown> = Object.fromEntries(form.fields);
    if (!form.file) {
      if (typeof fields.script_content === 'string')
        return { script: fields.script_content, ...fieldsOf({ ...query, ...fields }, config) };
      throw new ApiError(
        'VALIDATION_FAILED',
        `The form has no file: send the script as a file field named 'file', e.g. ${workingForm(request.headers.host)}`,
      );
    }
    const f = fieldsOf({ ...query, ...fields }, config);
    return { bytes: form.file.bytes, ...f, name: f.name ?? safeName(form.file.filename) };
  }
  const body = request.body;
  if (Buffer.isBuffer(body)) {
    if (looksLikeJsonSubmission(body))
      throw new ApiError(
        'VALIDATION_FAILED',
        `The body is JSON ({"script_content": …}) but its Content-Type is ${request.headers['content-type']}: send it with -H 'Content-Type: application/json', or send the script file itself: ${workingUpload(request.headers.host)}`,
      );
    return { bytes: body, ...fieldsOf(query, config) };
  }
  if (body === undefined || body === null) {
    throw new ApiError(
      'VALIDATION_FAILED',
      `No script was sent. Send it as the body: ${workingUpload(request.headers.host)}, or as JSON {"script_content": "..."}`,
    );
  }
  if (typeof body !== 'object' || Array.isArray(body)) {
    throw new ApiError('VALIDATION_FAILED', 'The JSON body must be an object: {"script_content": "..."}');
  }
  const json = body as Record<string, unknown>;
  if (typeof json.script_content !== 'string') {
    throw new ApiError(
      'VALIDATION_FAILED',
      `body.script_content is required and must be a string (the script's text). Or send the file as it is: ${workingUpload(request.headers.host)}`,
      [{ field: 'body.script_content', message: 'required string' }],
    );
  }
  return { script: json.script_content, ...fieldsOf({ ...query, ...json }, config) };
}

/** The Idempotency-Key header, checked: 1-255 visible ASCII characters (a UUID is the usual choice). */
function idempotencyKey(header: string | string[] | undefined): string | null {
  if (header === undefined) return null;
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || !/^[\x21-\x7e]{1,255}$/.test(value)) {
    throw new ApiError(
      'VALIDATION_FAILED',
      'Idempotency-Key must be 1-255 visible ASCII characters, e.g. a UUID: the same key on a retry returns the first experiment',
    );
  }
  return value;
}

export async function experimentRoutes(app: Service, config: HubConfig, hub: Hub): Promise<void> {
  const { queue, dispatcher, views, validator, registry } = hub;

  // Parsers of this scope only: the raw script forms, and JSON with a message that shows a working command.
  // A callback plugin: Fastify queues the nested register itself, so nothing here needs awaiting.
  const uploads = (scope: Service, _opts: unknown, done: (err?: Error) => void): void => {
    scope.removeContentTypeParser('application/json');
    scope.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => {
      let text: string;
      try {
        text = jsonText(body as Buffer, req.headers['content-type']);
      } catch (err) {
        return done(err as Error, undefined);
      }
      if (text.trim() === '') return done(null, undefined);
      try {
        done(null, JSON.parse(text));
      } catch (err) {
        done(invalidJson((err as Error).message, req.headers.host), undefined);
      }
    });
    scope.addContentTypeParser(RAW_SCRIPT_TYPES, { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    // The limits are readForm's, per request.
    void scope.register(multipart, { throwFileSizeLimit: true });

    scope.route({
      ...hubRoutes.submit,
      handler: async (request, reply) => {
        const viewer = viewerOf(request);
        const sub = await readSubmission(request, config);
        const script = sub.bytes
          ? await validator.validateBytes(sub.bytes)
          : await validator.validate(sub.script ?? '').then(() => sub.script ?? '');
        if (sub.node) registry.mustGet(sub.node);
        const duration = hub.durations.decide(sub.maxDurationS, sub.node ?? null);
        const key = idempotencyKey(request.headers['idempotency-key']);
        const row = queue.submit({
          userId: viewer.userId ?? 'operator',
          script,
          name: sub.name ?? null,
          maxDurationS: duration.maxDurationS,
          maxDurationSource: duration.source,
          nodePin: sub.node ?? null,
          ...(key
            ? {
                idempotency: {
                  key,
                  requestSha256: createHash('sha256')
                    .update(JSON.stringify([script, sub.name ?? null, sub.maxDurationS ?? null, sub.node ?? null]))
                    .digest('hex'),
                },
              }
            : {}),
        });
        const view = views.experiment(row, viewer);
        if (row.replayed) {
          reply.header('idempotency-replayed', 'true');
          return {
            experiment_id: row.id,
            status: row.status,
            queue_position: view.queue_position ?? 0,
            estimated_start: view.estimated_start,
            max_duration_s: row.max_duration_s,
            max_duration_source: row.max_duration_source,
            message: `Already submitted with this Idempotency-Key: experiment ${row.id} is ${row.status}; follow it at GET /api/experiments/${row.id}/status`,
          };
        }
        // Not the user: an anonymous browser's X-Session-ID is its credential.
        request.log.info({ experiment_id: row.id, queue_position: view.queue_position }, 'experiment queued');
        return {
          experiment_id: row.id,
          status: 'queued' as const,
          queue_position: view.queue_position ?? 1,
          estimated_start: view.estimated_start,
          max_duration_s: row.max_duration_s,
          max_duration_source: duration.source,
          message: `Experiment added to queue at position ${view.queue_position ?? 1}; ${duration.message}; follow it at GET /api/experiments/${row.id}/status`,
        };
      },
    });
    done();
  };
  await app.register(uploads);

  app.route({
    ...hubRoutes.validate,
    // A script at the size limit, escaped as JSON, fits.
    bodyLimit: config.BIOREACTOR_MAX_SCRIPT_BYTES * 2 + 65_536,
    handler: async (request) => {
      viewerOf(request);
      const { script_content: script, max_duration_s: declared, node } = request.body;
      const problems: Problem[] = [];
      let message = 'The script passes every check a submission gets';
      try {
        await validator.validate(script);
      } catch (err) {
        if (!(err instanceof ApiError) || err.code !== 'SCRIPT_REJECTED') throw err;
        problems.push(...(err.problems ?? [{ message: err.message }]));
        message = err.message;
      }
      if (node) registry.mustGet(node);
      let duration: ReturnType<typeof hub.durations.decide> | undefined;
      try {
        duration = hub.durations.decide(declared, node ?? null);
      } catch (err) {
        if (!(err instanceof ApiError) || err.code !== 'VALIDATION_FAILED') throw err;
        problems.push({ field: 'max_duration_s', message: err.message });
        if (problems.length === 1) message = err.message;
      }
      return {
        valid: problems.length === 0,
        problems,
        message: problems.length > 1 ? `${problems.length} problems: ${message}` : message,
        ...(duration ? { max_duration_s: duration.maxDurationS, max_duration_source: duration.source } : {}),
      };
    },
  });

  app.route({
    ...hubRoutes.script,
    handler: async (request) => {
      const viewer = viewerOf(request);
      const row = queue.mustGet(request.params.id);
      requireOwner(viewer, row, 'read its script');
      return {
        experiment_id: row.id,
        name: row.name,
        script_content: row.script_content,
        max_duration_s: row.max_duration_s,
        max_duration_source: row.max_duration_source,
      };
    },
  });

  app.route({
    ...hubRoutes.annotate,
    handler: async (request) => {
      const viewer = viewerOf(request);
      const row = queue.mustGet(request.params.id);
      requireOwner(viewer, row, 'change its notes or labels');
      const { notes, labels } = request.body;
      const clean = labels === undefined ? undefined : [...new Set(labels.map((l) => l.trim()).filter(Boolean))];
      const after = queue.annotate(row.id, notes === undefined ? undefined : notes?.trim() || null, clean);
      return { success: true as const, experiment: views.experiment(after, viewer) };
    },
  });

  app.route({
    ...hubRoutes.allExperiments,
    handler: async (request) => {
      const viewer = viewerOf(request);
      requireAdmin(viewer, 'list every experiment');
      const { q, status, user, label, include_archived, limit = 50, offset = 0 } = request.query;
      const { rows, total } = queue.search({
        q,
        status,
        user,
        label,
        includeArchived: include_archived,
        limit,
        offset,
      });
      return { experiments: views.list(rows, viewer), total };
    },
  });

  app.route({
    ...hubRoutes.status,
    handler: async (request) => {
      const viewer = viewerOf(request);
      return { experiment: views.experiment(queue.mustGet(request.params.id), viewer) };
    },
  });

  app.route({
    ...hubRoutes.userExperiments,
    handler: async (request) => {
      const viewer = viewerOf(request);
      const rows = queue.byUser(viewer.userId, request.query.include_archived === true);
      return { experiments: views.list(rows, viewer) };
    },
  });

  const act = (
    route: (typeof hubRoutes)['cancel' | 'pause' | 'resume'],
    verb: string,
    adminOnly: boolean,
    run: (id: string) => import('../queue/queue.js').ExperimentRow,
    message: (id: string) => string,
  ) =>
    app.route({
      ...route,
      handler: async (request) => {
        const viewer = viewerOf(request);
        const row = queue.mustGet(request.params.id);
        if (adminOnly) requireAdmin(viewer, verb);
        else requireOwner(viewer, row, verb);
        const after = run(row.id);
        return { success: true as const, message: message(row.id), experiment: views.experiment(after, viewer) };
      },
    });

  act(
    hubRoutes.cancel,
    'cancel it',
    false,
    (id) => dispatcher.cancel(id),
    (id) => `Experiment ${id} cancelled`,
  );
  act(
    hubRoutes.pause,
    'pause it',
    false,
    (id) => queue.pause(id),
    (id) => `Experiment ${id} paused`,
  );
  act(
    hubRoutes.resume,
    'resume it',
    false,
    (id) => queue.resume(id),
    (id) => `Experiment ${id} resumed`,
  );
  // Run-now, reorder and delete: routes/queue-actions.ts.

  /** The experiment the caller may read and the node it runs or ran on. */
  const runNode = (request: FastifyRequest, id: string, what: string) => {
    const viewer = viewerOf(request);
    const row = queue.mustGet(id);
    requireOwner(viewer, row, `read its ${what}`);
    if (!row.node) {
      throw new ApiError(
        'INVALID_STATE',
        `Experiment '${row.id}' is ${row.status} and has not run on a node yet, so it has no ${what}`,
      );
    }
    return { row, node: registry.mustGet(row.node) };
  };

  /** Streams one node response through: status, the headers that matter, and the body as it arrives. */
  const passThrough =
    (suffix: string, accept: string, what: string) =>
    async (request: FastifyRequest<{ Params: { id: string } }>, reply: import('fastify').FastifyReply) => {
      const { row, node } = runNode(request, request.params.id, what);
      const search = request.url.includes('?') ? request.url.slice(request.url.indexOf('?')) : '';
      const upstream = new AbortController();
      request.raw.on('close', () => upstream.abort());
      const wantsStream =
        (request.headers.accept ?? '').includes('text/event-stream') || /[?&]follow=true/.test(search);
      const res = await node.client.passThrough(
        `/api/experiments/${encodeURIComponent(row.id)}/${suffix}${search}`,
        wantsStream ? 'text/event-stream' : accept,
        upstream.signal,
        config.BIOREACTOR_NODE_TIMEOUT_MS,
      );
      if (!res.ok) {
        const text = await res.text();
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
        throw peerError(res.status, parsed, `Node '${node.name}' answered ${res.status} for the ${what}`);
      }
      for (const h of ['content-type', 'content-disposition', 'content-length', 'x-next-offset', 'cache-control']) {
        const v = res.headers.get(h);
        if (v !== null) reply.header(h, v);
      }
      reply.header('x-accel-buffering', 'no');
      if (!res.body) return reply.send('');
      return reply.send(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream));
    };

  app.route({ ...hubRoutes.download, handler: passThrough('download', 'application/zip', 'results') });
  app.route({ ...hubRoutes.logs, handler: passThrough('logs', 'application/json', 'logs') });
  app.route({ ...hubRoutes.data, handler: passThrough('data', 'text/csv', 'data') });

  app.route({
    ...hubRoutes.series,
    handler: async (request, reply) => {
      const { row, node } = runNode(request, request.params.id, 'data');
      const { file, points } = request.query;
      const query = new URLSearchParams();
      if (file !== undefined) query.set('file', file);
      if (points !== undefined) query.set('points', String(points));
      const path = `/api/experiments/${encodeURIComponent(row.id)}/series?${query}`;
      const upstream = new AbortController();
      request.raw.on('close', () => upstream.abort());
      const res = await node.client.http.fetch('GET', path, {
        headers: { accept: 'application/json' },
        signal: upstream.signal,
        timeoutMs: SERIES_TIMEOUT_MS,
      });
      const text = await res.text();
      if (!res.ok) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
        throw peerError(
          res.status,
          parsed,
          `Node '${node.name}' answered ${res.status} for the series of ${file ?? 'its data file'}`,
        );
      }
      // The node's JSON text as it is (a string is not serialised again): points can be many, and the hub adds
      // nothing to them.
      return reply.type('application/json; charset=utf-8').send(text as never);
    },
  });
}
