// The node's experiment routes (original-system.md §2.7, fixed): thin; the lifecycle is experiments/manager.ts.
import {
  ApiError,
  EVENT_TYPES,
  NEXT_OFFSET_HEADER,
  type RunState,
  nodeExperimentRoutes as routes,
} from '@bioreactor/api';
import { openEventStream, type Service, wantsEventStream } from '@bioreactor/service-kit';
import { buildDownload } from '../experiments/download.js';
import { readLinesFrom } from '../experiments/files.js';
import { followFile } from '../experiments/follow.js';
import type { ExperimentHardware } from '../experiments/hardware-gateway.js';
import { type ExperimentManager, isLive, publicRecord } from '../experiments/manager.js';
import { SeriesCache } from '../experiments/series.js';
import { DATA_FILE, type ExperimentStore } from '../experiments/store.js';
import { parseProgramYaml } from './programs.js';

export interface ExperimentRouteDeps {
  manager: ExperimentManager;
  store: ExperimentStore;
  hardware?: ExperimentHardware | undefined;
  /** The runs' CSV files as charts (series.ts); the route answers from the files alone without it. */
  series?: SeriesCache | undefined;
}

/** Largest CSV chunk one `GET …/data` returns; the client continues from X-Next-Offset. */
const MAX_DATA_BYTES = 1024 * 1024;

export async function registerExperimentRoutes(app: Service, deps: ExperimentRouteDeps): Promise<void> {
  const { manager, store } = deps;
  const series = deps.series ?? new SeriesCache(store);
  const isOver = (id: string) => async () => !isLive((await manager.get(id)).status);

  app.route({
    ...routes.start,
    handler: async (request) => {
      const body = request.body;
      // A program may come as text (YAML, or JSON as YAML reads it too).
      const program = typeof body.program === 'string' ? parseProgramYaml(body.program) : body.program;
      const run = await manager.start(body.program === undefined ? body : { ...body, program });
      return { status: 'success' as const, experiment_id: run.experiment_id, message: 'Experiment started' };
    },
  });

  app.route({
    ...routes.list,
    handler: async () => ({
      status: 'success' as const,
      experiments: (await manager.list()).map((r) => ({
        experiment_id: r.experiment_id,
        status: r.status,
        start_time: r.start_time,
        end_time: r.end_time,
      })),
    }),
  });

  app.route({
    ...routes.events,
    handler: async (request, reply) => {
      const stream = openEventStream(request, reply);
      const send = (experiment: ReturnType<typeof publicRecord>) => stream.send(EVENT_TYPES.runUpdated, { experiment });
      manager.on('run', send);
      stream.onClose(() => manager.off('run', send));
      const id = manager.activeExperimentId();
      if (id) send(publicRecord(await manager.get(id)));
    },
  });

  app.route({
    ...routes.status,
    handler: async (request) => ({
      status: 'success' as const,
      experiment: publicRecord(await manager.get(request.params.id)),
    }),
  });

  app.route({
    ...routes.logs,
    handler: async (request, reply) => {
      const { id } = request.params;
      await manager.get(id);
      const tail = request.query.tail ?? 100;
      if (!request.query.follow && !wantsEventStream(request)) {
        return { status: 'success' as const, logs: await manager.logLines(id, tail) };
      }
      const stream = openEventStream(request, reply);
      const send = (text: string) => stream.send(EVENT_TYPES.runLog, { experiment_id: id, text });
      const live = manager.followLog(id, tail, send);
      if (live) {
        // Ends with the run: its record turns final only once all its output has been passed on.
        const ended = new Promise<void>((resolve) => {
          const onRun = (record: { experiment_id: string; status: RunState }) => {
            if (record.experiment_id !== id || isLive(record.status)) return;
            manager.off('run', onRun);
            resolve();
          };
          manager.on('run', onRun);
          stream.onClose(() => {
            manager.off('run', onRun);
            resolve();
          });
          // A run that turned final just before the subscription.
          void manager.get(id).then((record) => onRun(record));
        });
        if (live.recent !== '') send(live.recent);
        await ended;
        live.stop();
      } else {
        const logs = await manager.logLines(id, tail);
        if (logs !== '') send(logs);
      }
      if (!stream.closed) {
        stream.send(EVENT_TYPES.runUpdated, { experiment: publicRecord(await manager.get(id)) });
        stream.close();
      }
    },
  });

  app.route({
    ...routes.results,
    handler: async (request) => {
      const run = await manager.get(request.params.id);
      const { files } = await store.outputFiles(run.experiment_id, run.limits.output_files);
      return {
        status: 'success' as const,
        results: {
          experiment_id: run.experiment_id,
          output_files: files,
          exit_code: run.exit_code,
        },
      };
    },
  });

  app.route({
    ...routes.data,
    handler: async (request, reply) => {
      const { id } = request.params;
      await manager.get(id);
      const file = request.query.file ?? DATA_FILE;
      const offset = request.query.offset ?? 0;
      if (request.query.follow || wantsEventStream(request)) {
        const stream = openEventStream(request, reply);
        const closed = new Promise<void>((resolve) => stream.onClose(resolve));
        await followFile({
          open: () => store.openOutputFile(id, file).catch(() => null),
          from: offset,
          wholeLines: true,
          onChunk: (text, from, next) =>
            stream.send(EVENT_TYPES.runData, { experiment_id: id, offset: from, next_offset: next, text }, next),
          isOver: isOver(id),
          closed,
        });
        if (!stream.closed) {
          stream.send(EVENT_TYPES.runUpdated, { experiment: publicRecord(await manager.get(id)) });
          stream.close();
        }
        return;
      }
      const handle = await store.openOutputFile(id, file);
      try {
        const { bytes, next, size } = await readLinesFrom(handle, offset, MAX_DATA_BYTES);
        if (offset > size) {
          throw new ApiError(
            'VALIDATION_FAILED',
            `offset ${offset} is past the end of ${file} (${size} bytes); continue from X-Next-Offset of the last read`,
          );
        }
        return (
          reply
            .header(NEXT_OFFSET_HEADER, String(next))
            .header('x-file-size', String(size))
            .type('text/csv; charset=utf-8')
            // Whole lines only, so the UTF-8 text is never cut inside a character.
            .send(bytes.toString('utf8'))
        );
      } finally {
        await handle.close();
      }
    },
  });

  app.route({
    ...routes.series,
    handler: async (request) => {
      const { id } = request.params;
      await manager.get(id);
      const file = request.query.file ?? DATA_FILE;
      const summary = await series.summary(id, file);
      return { experiment_id: id, file, ...summary.render(request.query.points ?? 1000) };
    },
  });

  app.route({
    ...routes.download,
    handler: async (request, reply) => {
      const run = await manager.get(request.params.id);
      const zip = await buildDownload(store, run, deps.hardware);
      return reply
        .type('application/zip')
        .header('content-disposition', `attachment; filename="${zip.filename}"`)
        .send(zip.stream);
    },
  });

  app.route({
    ...routes.stop,
    handler: async (request) => {
      const { message } = await manager.stop(request.params.id);
      return { status: 'success' as const, message };
    },
  });

  app.route({
    ...routes.remove,
    handler: async (request) => {
      await manager.remove(request.params.id);
      series.forget(request.params.id);
      return { status: 'success' as const, message: `Experiment ${request.params.id} deleted` };
    },
  });
}
