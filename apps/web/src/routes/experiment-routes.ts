// Upload, the queue, a user's experiments, one experiment (status, logs, chart, download) and queue actions.
import { Readable } from 'node:stream';
import {
  ApiError,
  accountHubUser,
  EVENT_TYPES,
  type HubExperiment,
  MAX_SCRIPT_BYTES,
  type QueueStatus,
  SubmitExperiment,
  webRoutes,
} from '@bioreactor/api';
import { openEventStream, readForm, type Service } from '@bioreactor/service-kit';
import multipart from '@fastify/multipart';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { Value } from 'typebox/value';
import type { WebContext } from '../context.js';
import { isOwner, viewExperiment, viewQueue } from '../experiment-view.js';
import type { ExperimentAction, HubCaller } from '../hub-client.js';
import { seriesFromHub } from '../live/series.js';

const MAX_DURATION_FIELD = /^\d{1,7}$/;
/** An account name (accounts.ts's USERNAME_PATTERN); a browser's session id is a UUID. */
const USERNAME = /^[A-Za-z0-9_.-]{3,32}$/;
/** Text fields an upload form may have besides the file (name, max_duration_s, script_content, program, preflight,
 * time_scale and spare). */
const MAX_FORM_FIELDS = 10;
/** What the web server passes on as JSON: the hub takes the node from nobody here. */
const UploadJson = Type.Omit(SubmitExperiment, ['node']);
/** A form's file taken as a program rather than a script, by its name. */
const PROGRAM_FILE = /\.(ya?ml|json)$/i;
const TIME_SCALE_FIELD = /^\d{1,4}$/;
/** A chart needs no more; the CSV of a long run is downsampled to this. */
const DEFAULT_SERIES_POINTS = 1000;

function caller(request: FastifyRequest): HubCaller {
  return { hubUser: request.identity.hubUser, role: request.identity.role };
}

function requireAdmin(request: FastifyRequest, what: string): void {
  if (request.identity.role !== 'admin')
    throw new ApiError('FORBIDDEN', `Only an admin may ${what}: sign in with the admin account on the queue page`);
}

const notFound = (id: string) =>
  new ApiError('EXPERIMENT_NOT_FOUND', `No experiment ${id} among yours; check the id on My Experiments`);

/** The experiment when this user may see it in full; anyone else's is "not found", never "forbidden". */
async function visibleExperiment(ctx: WebContext, request: FastifyRequest, id: string): Promise<HubExperiment> {
  let experiment: HubExperiment;
  try {
    experiment = await ctx.hub.status(caller(request), id);
  } catch (err) {
    if (
      err instanceof ApiError &&
      (err.code === 'EXPERIMENT_NOT_FOUND' || err.code === 'FORBIDDEN' || err.code === 'NOT_FOUND')
    )
      throw notFound(id);
    throw err;
  }
  if (!isOwner(experiment, caller(request)) && request.identity.role !== 'admin') throw notFound(id);
  return experiment;
}

function decodeScript(bytes: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes).replace(/^\uFEFF/, '');
  } catch {
    throw new ApiError('SCRIPT_REJECTED', 'The file is not UTF-8 text; save it as UTF-8 and upload it again', [
      { line: 1, column: 1, message: 'not valid UTF-8' },
    ]);
  }
}

function parseDuration(text: string | undefined): number | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  if (!MAX_DURATION_FIELD.test(text.trim()) || Number(text) < 1)
    throw new ApiError('VALIDATION_FAILED', 'Maximum duration must be a whole number of seconds, 1 or more', [
      { field: 'max_duration_s', message: 'a whole number of seconds, 1 or more' },
    ]);
  return Number(text);
}

/** A pre-flight's form fields (preflight=true, time_scale) as the hub's JSON; the hub checks the range. */
function preflightOf(fields: Record<string, string>): SubmitExperiment['preflight'] {
  const on = /^(true|1|on|yes)$/i.test(fields.preflight?.trim() ?? '');
  const scale = fields.time_scale?.trim() ?? '';
  if (!on) return undefined;
  if (scale === '') return {};
  if (!TIME_SCALE_FIELD.test(scale))
    throw new ApiError('VALIDATION_FAILED', 'The pre-flight speed-up must be a whole number from 1 to 3600', [
      { field: 'time_scale', message: 'a whole number from 1 to 3600' },
    ]);
  return { time_scale: Number(scale) };
}

async function readUpload(request: FastifyRequest): Promise<SubmitExperiment> {
  if (!request.isMultipart()) {
    const body = request.body;
    if (
      !Value.Check(UploadJson, body) ||
      (body.script_content === undefined) === (body.program === undefined || body.program === null)
    )
      throw new ApiError(
        'VALIDATION_FAILED',
        'Send a multipart form with a .py file (or a .yaml program), or JSON {"script_content": "..."} or {"program": {...}}, with "name"?, "max_duration_s"? and "preflight"?: {"time_scale": 60}',
      );
    return body;
  }
  const form = await readForm(request, {
    fileField: 'file',
    maxFileBytes: MAX_SCRIPT_BYTES,
    maxFields: MAX_FORM_FIELDS,
    maxFieldBytes: MAX_SCRIPT_BYTES,
    example: "the upload page, or curl -F file=@script.py (with the page's session cookie and X-CSRF-Token)",
  });
  const fields = Object.fromEntries(form.fields);
  const common: Omit<SubmitExperiment, 'script_content' | 'program'> = {};
  const name = fields.name?.trim();
  if (name) common.name = name.slice(0, 200);
  const duration = parseDuration(fields.max_duration_s);
  if (duration !== undefined) common.max_duration_s = duration;
  const preflight = preflightOf(fields);
  if (preflight) common.preflight = preflight;
  // A program: a .yaml, .yml or .json file, or the field; the hub reads and checks it.
  if (form.file && PROGRAM_FILE.test(form.file.filename)) {
    const base = form.file.filename.replace(PROGRAM_FILE, '').slice(0, 200);
    return { ...common, program: decodeScript(form.file.bytes), ...(common.name || !base ? {} : { name: base }) };
  }
  if (!form.file && fields.program?.trim()) return { ...common, program: fields.program };
  let script: string | undefined;
  if (form.file) {
    // The client's file name is only checked, never used as a path: uploads are not kept on disk.
    if (!/\.py$/i.test(form.file.filename))
      throw new ApiError(
        'VALIDATION_FAILED',
        `"${form.file.filename.slice(0, 200)}" is not a Python file or a program: choose a file ending in .py, or a program ending in .yaml or .json`,
        [{ field: 'file', message: 'must end in .py, .yaml, .yml or .json' }],
      );
    script = decodeScript(form.file.bytes);
  }
  script ??= fields.script_content;
  if (script === undefined || script.trim() === '')
    throw new ApiError('VALIDATION_FAILED', 'Choose a .py file or write a script before submitting', [
      { field: 'file', message: 'no script' },
    ]);
  return { ...common, script_content: script };
}

export async function experimentRoutes(app: Service, ctx: WebContext): Promise<void> {
  // Forms are taken by the upload route alone (its own scope); any other route answers a form with 415.
  const uploads = (scope: Service, _opts: unknown, done: (err?: Error) => void): void => {
    // The limits are readForm's, per request.
    void scope.register(multipart, { throwFileSizeLimit: true });
    scope.route({
      ...webRoutes.upload,
      bodyLimit: MAX_SCRIPT_BYTES * 2,
      handler: async (request) => {
        const submission = await readUpload(request);
        if (submission.script_content !== undefined && Buffer.byteLength(submission.script_content) > MAX_SCRIPT_BYTES)
          throw new ApiError('PAYLOAD_TOO_LARGE', `Scripts are limited to ${MAX_SCRIPT_BYTES / 1024} KiB`);
        const key = request.headers['idempotency-key'];
        return ctx.hub.submit(caller(request), submission, typeof key === 'string' ? key : undefined);
      },
    });
    done();
  };
  await app.register(uploads);

  app.route({
    ...webRoutes.queue,
    handler: async (request) => viewQueue(await ctx.hub.queueStatus(caller(request)), caller(request)),
  });

  app.route({
    ...webRoutes.mine,
    handler: async (request) => {
      const { limit, offset = 0, q, status, include_archived } = request.query;
      const all = await ctx.hub.userExperiments(caller(request), include_archived === true);
      const needle = q?.trim().toLowerCase();
      const matching = all.filter(
        (e) =>
          (!status || e.status === status) &&
          (!needle ||
            e.experiment_id.toLowerCase().includes(needle) ||
            (e.name ?? '').toLowerCase().includes(needle) ||
            (e.labels ?? []).some((l) => l.toLowerCase().includes(needle))),
      );
      const page = limit === undefined ? matching.slice(offset) : matching.slice(offset, offset + limit);
      return { experiments: page.map((e) => viewExperiment(e, caller(request))), total: matching.length };
    },
  });

  app.route({
    ...webRoutes.check,
    bodyLimit: MAX_SCRIPT_BYTES * 2 + 65_536,
    handler: async (request) => {
      if (Buffer.byteLength(request.body.script_content) > MAX_SCRIPT_BYTES)
        throw new ApiError('PAYLOAD_TOO_LARGE', `Scripts are limited to ${MAX_SCRIPT_BYTES / 1024} KiB`);
      return ctx.hub.check(caller(request), request.body);
    },
  });

  app.route({
    ...webRoutes.programPreview,
    bodyLimit: MAX_SCRIPT_BYTES * 2 + 65_536,
    handler: async (request) => ctx.hub.programPreview(caller(request), request.body, request.query.hours),
  });

  app.route({
    ...webRoutes.preflight,
    handler: async (request) => {
      const { id } = request.params;
      await visibleExperiment(ctx, request, id);
      return ctx.hub.preflight(caller(request), id);
    },
  });

  app.route({
    ...webRoutes.script,
    handler: async (request) => {
      const { id } = request.params;
      await visibleExperiment(ctx, request, id);
      return ctx.hub.script(caller(request), id);
    },
  });

  app.route({
    ...webRoutes.experiment,
    handler: async (request) => ({
      experiment: viewExperiment(await visibleExperiment(ctx, request, request.params.id), caller(request)),
    }),
  });

  app.route({
    ...webRoutes.logs,
    handler: async (request, reply) => {
      const { id } = request.params;
      await visibleExperiment(ctx, request, id);
      const tail = request.query.tail ?? 200;
      if (!request.query.follow) return { logs: await ctx.hub.logs(caller(request), id, tail) };
      const upstream = new AbortController();
      request.raw.on('close', () => upstream.abort());
      const events = await ctx.hub.followLogs(caller(request), id, tail, upstream.signal);
      reply.header('content-type', 'text/event-stream; charset=utf-8');
      reply.header('cache-control', 'no-cache');
      reply.header('x-accel-buffering', 'no');
      // The contract documents the JSON body; Fastify streams any Readable it is given.
      return reply.send(
        Readable.fromWeb(events as import('node:stream/web').ReadableStream) as unknown as { logs: string },
      );
    },
  });

  app.route({
    ...webRoutes.series,
    handler: async (request) => {
      const { id } = request.params;
      await visibleExperiment(ctx, request, id);
      const file = request.query.file ?? ctx.settings.get().csv_file_path;
      // The node keeps the summary (bounded, whatever the run's length); the hub checks access again.
      const series = await ctx.hub.series(caller(request), id, file, request.query.points ?? DEFAULT_SERIES_POINTS);
      return seriesFromHub(series, id);
    },
  });

  app.route({
    ...webRoutes.download,
    handler: async (request, reply) => {
      const { id } = request.params;
      await visibleExperiment(ctx, request, id);
      const res = await ctx.hub.download(caller(request), id);
      reply.header('content-type', res.headers.get('content-type') ?? 'application/zip');
      reply.header(
        'content-disposition',
        res.headers.get('content-disposition') ?? `attachment; filename="experiment_${id}_results.zip"`,
      );
      const length = res.headers.get('content-length');
      if (length) reply.header('content-length', length);
      if (!res.body) throw new ApiError('NODE_UNREACHABLE', 'The hub sent no results; try the download again');
      // Streamed: a large zip never sits in the web server's memory.
      const zip = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream);
      // The contract documents the body as a string; Fastify streams any Readable it is given.
      return reply.send(zip as unknown as string);
    },
  });

  const action = (verb: ExperimentAction, route: typeof webRoutes.cancel) =>
    app.route({
      ...route,
      handler: async (request) => {
        const { id } = request.params;
        if (verb === 'run-now') requireAdmin(request, 'run an experiment ahead of the queue');
        else await visibleExperiment(ctx, request, id);
        const res = await ctx.hub.action(caller(request), id, verb);
        return {
          success: true as const,
          message: res.message,
          experiment: viewExperiment(res.experiment, caller(request)),
        };
      },
    });
  action('cancel', webRoutes.cancel);
  action('pause', webRoutes.pause);
  action('resume', webRoutes.resume);
  action('run-now', webRoutes.runNow);

  app.route({
    ...webRoutes.reorder,
    handler: async (request) => {
      requireAdmin(request, 'reorder the queue');
      const res = await ctx.hub.reorder(caller(request), request.params.id, request.query.new_position);
      return {
        success: true as const,
        message: res.message,
        experiment: viewExperiment(res.experiment, caller(request)),
      };
    },
  });

  app.route({ ...webRoutes.nodes, handler: async () => ({ nodes: await ctx.hub.nodes() }) });

  app.route({
    ...webRoutes.annotate,
    handler: async (request) => {
      const { id } = request.params;
      await visibleExperiment(ctx, request, id);
      const experiment = await ctx.hub.annotate(caller(request), id, request.body);
      return { success: true as const, experiment: viewExperiment(experiment, caller(request)) };
    },
  });

  app.route({
    ...webRoutes.allExperiments,
    handler: async (request) => {
      requireAdmin(request, 'list every experiment of the lab');
      const { user, ...rest } = request.query;
      // An account name is filed at the hub under its account id; anything else is taken as the hub's own id.
      const hubUser = user === undefined ? undefined : USERNAME.test(user) ? accountHubUser(user) : user;
      const page = await ctx.hub.allExperiments(caller(request), { ...rest, user: hubUser, limit: rest.limit ?? 50 });
      return { experiments: page.experiments.map((e) => viewExperiment(e, caller(request))), total: page.total };
    },
  });

  app.route({
    ...webRoutes.drainNode,
    handler: async (request) => {
      requireAdmin(request, request.body.drained ? 'drain a node' : 'enable a node');
      return ctx.hub.drainNode(caller(request), request.params.name, request.body.drained);
    },
  });

  app.route({
    ...webRoutes.events,
    handler: async (request, reply) => {
      const viewer = caller(request);
      const stream = openEventStream(request, reply);
      stream.send('hub.status', { connected: ctx.hubEvents.connected });
      const unsubscribe = ctx.hubEvents.subscribe(({ event, data }) => {
        if (event === EVENT_TYPES.queueUpdated) stream.send(event, viewQueue(data as QueueStatus, viewer));
        else if (event === EVENT_TYPES.experimentUpdated) {
          const experiment = (data as { experiment?: HubExperiment }).experiment;
          if (experiment) stream.send(event, { experiment: viewExperiment(experiment, viewer) });
        } else if (event === EVENT_TYPES.nodeUpdated || event === 'hub.status') stream.send(event, data);
      });
      stream.onClose(unsubscribe);
    },
  });
}
