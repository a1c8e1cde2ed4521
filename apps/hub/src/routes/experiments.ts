// Experiment routes: submit (JSON, raw script or multipart file), status, the caller's list, queue actions,
// and the node's logs, data and results streamed through.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  ApiError,
  DEFAULT_PREFLIGHT_TIME_SCALE,
  hubRoutes,
  MAX_DURATION_CEILING_S,
  MAX_TIME_SCALE,
  type Problem,
} from '@bioreactor/api';
import { jsonText, peerError, readForm, type Service } from '@bioreactor/service-kit';
import multipart from '@fastify/multipart';
import type { FastifyRequest } from 'fastify';
import type { HubConfig } from '../config.js';
import type { Hub } from '../hub.js';
import type { NodeEntry } from '../nodes/registry.js';
import { readProgram } from '../queue/programs.js';
import { submissionSha256 } from '../queue/queue.js';
import { requireAdmin, requireOwner, viewerOf } from './identity.js';

/** Content types taken as the script itself. */
const RAW_SCRIPT_TYPES = ['text/x-python', 'text/plain', 'application/x-python', 'application/octet-stream'];

/** Content types taken as a program in YAML (docs/programs.md). */
const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml'];

/** A raw YAML body: a program's text, not a script. */
class ProgramText {
  constructor(readonly text: string) {}
}

/** A form's file taken as a program rather than a script, by its name. */
const PROGRAM_FILE = /\.(ya?ml|json)$/i;

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
  /** A program instead of a script: the document, or its YAML or JSON text. */
  program?: unknown;
  name?: string | undefined;
  maxDurationS?: number | undefined;
  node?: string | undefined;
  /** A pre-flight at this speed-up; undefined for a run. */
  timeScale?: number | undefined;
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

const TIME_SCALE_RANGE = `a whole number from 1 to ${MAX_TIME_SCALE} (default ${DEFAULT_PREFLIGHT_TIME_SCALE})`;

/**
 * The pre-flight's speed-up, or undefined for a run: JSON `preflight: {time_scale}` (or `true`); a form or query
 * string `preflight=true` with `time_scale`.
 */
function optionalPreflight(source: Record<string, unknown>, problems: Problem[]): number | undefined {
  const p = source.preflight;
  let scale: unknown = source.time_scale;
  const off = p === undefined || p === null || p === '' || p === false || p === 'false' || p === '0';
  if (off) {
    if (scale !== undefined && scale !== null && scale !== '')
      problems.push({
        field: 'time_scale',
        message:
          'time_scale is the speed-up of a pre-flight: add preflight=true (JSON: "preflight": {"time_scale": …})',
      });
    return undefined;
  }
  if (typeof p === 'object' && !Array.isArray(p)) {
    const { time_scale, ...rest } = p as Record<string, unknown>;
    const extra = Object.keys(rest);
    if (extra.length > 0)
      problems.push({ field: 'preflight', message: `preflight takes only time_scale, not ${extra.join(', ')}` });
    scale = time_scale ?? scale;
  } else if (!(p === true || p === 'true' || p === '1')) {
    problems.push({
      field: 'preflight',
      message: 'preflight must be {"time_scale": 60} in JSON, or true in a form or the query string',
    });
    return undefined;
  }
  if (scale === undefined || scale === null || scale === '') return DEFAULT_PREFLIGHT_TIME_SCALE;
  const n = typeof scale === 'string' ? Number(scale) : scale;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_TIME_SCALE) {
    problems.push({ field: 'preflight.time_scale', message: `preflight.time_scale must be ${TIME_SCALE_RANGE}` });
    return undefined;
  }
  return n;
}

function fieldsOf(
  source: Record<string, unknown>,
  _config: HubConfig,
): Omit<Submission, 'script' | 'bytes' | 'program'> {
  const problems: Problem[] = [];
  const out = {
    name: optionalString(source.name, 'name', 200, problems),
    // The limit itself is the duration policy's (hub.durations), checked with the node once the node is known.
    maxDurationS: optionalDuration(source.max_duration_s, MAX_DURATION_CEILING_S, problems),
    node: optionalString(source.node, 'node', 64, problems),
    timeScale: optionalPreflight(source, problems),
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
  if (!/^\{\s*"(script_content|program|preflight|name|max_duration_s|node)"\s*:/.test(text)) return false;
  try {
    const parsed: unknown = JSON.parse(bytes.toString('utf8'));
    return typeof parsed === 'object' && parsed !== null && ('script_content' in parsed || 'program' in parsed);
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
    // A form client sends a field left blank as an empty string (Swagger UI's "Try it out" does): no program or script.
    for (const key of ['program', 'script_content'])
      if (typeof fields[key] === 'string' && (fields[key] as string).trim() === '') delete fields[key];
    if (typeof fields.program === 'string' && (form.file || typeof fields.script_content === 'string'))
      throw bothKinds();
    if (form.file && PROGRAM_FILE.test(form.file.filename ?? '')) {
      if (typeof fields.script_content === 'string') throw bothKinds();
      const f = fieldsOf({ ...query, ...fields }, config);
      return { program: programFileText(form.file.bytes), ...f, name: f.name ?? safeName(form.file.filename) };
    }
    if (!form.file) {
      if (typeof fields.program === 'string')
        return { program: fields.program, ...fieldsOf({ ...query, ...fields }, config) };
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
  if (body instanceof ProgramText) return { program: body.text, ...fieldsOf(query, config) };
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
  if (json.program !== undefined && json.program !== null) {
    if (json.script_content !== undefined) throw bothKinds();
    return { program: json.program, ...fieldsOf({ ...query, ...json }, config) };
  }
  if (typeof json.script_content !== 'string') {
    throw new ApiError(
      'VALIDATION_FAILED',
      `body.script_content is required and must be a string (the script's text), or body.program for a program (docs/programs.md). Or send the file as it is: ${workingUpload(request.headers.host)}`,
      [{ field: 'body.script_content', message: 'required string' }],
    );
  }
  return { script: json.script_content, ...fieldsOf({ ...query, ...json }, config) };
}

function bothKinds(): ApiError {
  return new ApiError(
    'VALIDATION_FAILED',
    'Send a script or a program, not both: script_content (or a .py file) for a script, program (or a .yaml or .json file) for a program',
    [{ field: 'program', message: 'a script or a program, not both' }],
  );
}

/** A program file's bytes as text (UTF-8, without a byte-order mark). */
function programFileText(bytes: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes).replace(/^\uFEFF/, '');
  } catch {
    throw new ApiError('VALIDATION_FAILED', 'The program file is not UTF-8 text; save it as UTF-8 and send it again', [
      { field: 'program', message: 'not valid UTF-8' },
    ]);
  }
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

  /** A pre-flight pinned to a node that is known to be real hardware, or too slow for it, would wait for ever. */
  const checkTwin = (node: NodeEntry, timeScale: number) => {
    const known = Number.isFinite(node.limitsReadAt);
    if (known && node.twin === null)
      throw new ApiError(
        'VALIDATION_FAILED',
        `Node '${node.name}' is real hardware: a pre-flight runs only on a simulation twin (a node whose GET /api/status shows experiment_limits.twin); pin it to a twin, or leave node out`,
        [{ field: 'node', message: 'not a simulation twin' }],
      );
    if (node.twin && timeScale > node.twin.maxTimeScale)
      throw new ApiError(
        'VALIDATION_FAILED',
        `Node '${node.name}' runs pre-flights at up to ${node.twin.maxTimeScale}×: ask for preflight.time_scale ${node.twin.maxTimeScale} or less`,
        [{ field: 'preflight.time_scale', message: `at most ${node.twin.maxTimeScale} on node ${node.name}` }],
      );
  };

  /**
   * The lab's policy BIOREACTOR_REQUIRE_PREFLIGHT: a run on real hardware needs a completed pre-flight of the same
   * script or program (same hash) by the same user whose report passed. A verdict not known yet (the node did not
   * answer when the pre-flight ended) is asked for now.
   */
  const requirePreflight = async (userId: string, sha256: string, kind: 'script' | 'program') => {
    const { passed, unknown, latest } = queue.preflightsOf(userId, sha256);
    if (passed) return;
    for (const row of unknown) {
      const node = row.node ? registry.get(row.node) : undefined;
      if (node && (await dispatcher.recordPreflight(node, row.id))) return;
    }
    const how =
      kind === 'program'
        ? 'submit the same program with "preflight": {"time_scale": 60}'
        : `submit the same script with "preflight": {"time_scale": 60} (a form or raw body: preflight=true&time_scale=60)`;
    const last = latest
      ? ` Your last pre-flight of it, ${latest.id}, ${latest.status === 'completed' && latest.preflight_passed === null ? 'has no report the hub could read yet' : 'did not pass'}: see why at GET /api/experiments/${latest.id}/preflight.`
      : '';
    throw new ApiError(
      'FORBIDDEN',
      `This lab runs a ${kind} on real hardware only after it passed a pre-flight on the simulation twin (BIOREACTOR_REQUIRE_PREFLIGHT): run it as a pre-flight first: ${how}, then submit it again as it is once its report passes, unchanged (the ${kind} is matched by its SHA-256).${last}`,
    );
  };

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
    scope.addContentTypeParser(YAML_TYPES, { parseAs: 'buffer' }, (req, body, done) => {
      try {
        done(null, new ProgramText(jsonText(body as Buffer, req.headers['content-type'])));
      } catch (err) {
        done(err as Error, undefined);
      }
    });
    // The limits are readForm's, per request.
    void scope.register(multipart, { throwFileSizeLimit: true });

    scope.route({
      ...hubRoutes.submit,
      handler: async (request, reply) => {
        const viewer = viewerOf(request);
        const userId = viewer.userId ?? 'operator';
        const sub = await readSubmission(request, config);
        const program = sub.program === undefined ? undefined : readProgram(sub.program);
        const script = program
          ? ''
          : sub.bytes
            ? await validator.validateBytes(sub.bytes)
            : await validator.validate(sub.script ?? '').then(() => sub.script ?? '');
        const pinned = sub.node ? registry.mustGet(sub.node) : undefined;
        if (sub.timeScale !== undefined && pinned) checkTwin(pinned, sub.timeScale);
        const sha256 = submissionSha256({ script, program: program?.canonical ?? null });
        if (config.BIOREACTOR_REQUIRE_PREFLIGHT && sub.timeScale === undefined && !pinned?.twin)
          await requirePreflight(userId, sha256, program ? 'program' : 'script');
        const duration = hub.durations.decide(sub.maxDurationS, sub.node ?? null);
        const key = idempotencyKey(request.headers['idempotency-key']);
        const row = queue.submit({
          userId,
          script,
          program: program?.canonical ?? null,
          timeScale: sub.timeScale ?? null,
          name: sub.name ?? program?.name ?? null,
          maxDurationS: duration.maxDurationS,
          maxDurationSource: duration.source,
          nodePin: sub.node ?? null,
          ...(key
            ? {
                idempotency: {
                  key,
                  requestSha256: createHash('sha256')
                    .update(
                      JSON.stringify([
                        program ? sha256 : script,
                        sub.name ?? null,
                        sub.maxDurationS ?? null,
                        sub.node ?? null,
                        ...(sub.timeScale === undefined ? [] : [sub.timeScale]),
                      ]),
                    )
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
        request.log.info(
          { experiment_id: row.id, queue_position: view.queue_position, kind: row.kind, time_scale: row.time_scale },
          'experiment queued',
        );
        const what =
          sub.timeScale === undefined
            ? 'Experiment'
            : `Pre-flight (on a simulation twin at ${sub.timeScale}×; its report at GET /api/experiments/${row.id}/preflight once it ends)`;
        return {
          experiment_id: row.id,
          status: 'queued' as const,
          queue_position: view.queue_position ?? 1,
          estimated_start: view.estimated_start,
          max_duration_s: row.max_duration_s,
          max_duration_source: duration.source,
          message: `${what} added to queue at position ${view.queue_position ?? 1}; ${duration.message}; follow it at GET /api/experiments/${row.id}/status`,
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
        kind: row.kind,
        program: row.program === null ? null : (JSON.parse(row.program) as Record<string, unknown>),
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
  app.route({
    ...hubRoutes.preflight,
    handler: async (request, reply) => {
      const { row, node } = runNode(request, request.params.id, 'pre-flight report');
      if (row.time_scale === null)
        throw new ApiError(
          'INVALID_STATE',
          `Experiment '${row.id}' is a run, not a pre-flight, so it has no pre-flight report; submit it with "preflight": {"time_scale": 60} for one`,
        );
      const upstream = new AbortController();
      request.raw.on('close', () => upstream.abort());
      const res = await node.client.http.fetch('GET', `/api/experiments/${encodeURIComponent(row.id)}/preflight`, {
        headers: { accept: 'application/json' },
        signal: upstream.signal,
        timeoutMs: config.BIOREACTOR_NODE_TIMEOUT_MS,
      });
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      if (!res.ok)
        throw peerError(res.status, parsed, `Node '${node.name}' answered ${res.status} for the pre-flight report`);
      // The verdict is kept for the lab's policy (BIOREACTOR_REQUIRE_PREFLIGHT) in case the dispatcher missed it.
      const passed = (parsed as { preflight?: { passed?: unknown } } | undefined)?.preflight?.passed;
      if (typeof passed === 'boolean' && row.status === 'completed' && row.preflight_passed === null)
        queue.setPreflightPassed(row.id, passed);
      return reply.type('application/json; charset=utf-8').send(text as never);
    },
  });
}
