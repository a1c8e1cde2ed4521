// The program routes (docs/programs.md): preview, start, state, change, stop. Thin: the document is parsed (JSON,
// or YAML text), the executor (programs/executor.ts) does the rest. The node has one executor (app.ts creates it
// before the runs are recovered, since a program run resumes with it); the same routes are on every run's private
// hardware API.
import { ApiError, nodeProgramRoutes as routes, validateProgram } from '@bioreactor/api';
import { jsonText, type Service } from '@bioreactor/service-kit';
import type { FastifyInstance } from 'fastify';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { NodeConfig } from '../config.js';
import type { Clock } from '../hardware/clock.js';
import type { Hardware } from '../hardware/index.js';
import { ProgramExecutor, type ProgramLog } from '../programs/executor.js';
import { expand } from '../programs/expand.js';
import type { ExperimentStatusProvider } from './status.js';

/** The media types a program may come as besides JSON. */
const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml'];

/** Largest program document, JSON or YAML. */
const MAX_PROGRAM_BYTES = 256 * 1024;

/** A YAML document as the value it stands for; a syntax error names its line and column. */
export function parseProgramYaml(text: string): unknown {
  try {
    return parseYaml(text, { maxAliasCount: 100, prettyErrors: false });
  } catch (err) {
    if (err instanceof YAMLParseError) {
      const [line, column] = err.linePos?.[0] ? [err.linePos[0].line, err.linePos[0].col] : [undefined, undefined];
      const where = line === undefined ? '' : ` at line ${line}, column ${column}`;
      throw new ApiError(
        'VALIDATION_FAILED',
        `The YAML program cannot be read${where}: ${err.message.split('\n')[0]}`,
        [{ message: err.message.split('\n')[0] ?? 'not YAML', ...(line === undefined ? {} : { line, column }) }],
      );
    }
    throw err;
  }
}

/** The node's one program executor, resumed from the state a previous process left (before runs are recovered). */
export async function createProgramExecutor(
  config: Pick<NodeConfig, 'DATA_DIR'>,
  hardware: Hardware,
  log: ProgramLog,
  activeRun: () => string | null,
): Promise<ProgramExecutor> {
  const executor = new ProgramExecutor({
    hardware: hardware as never,
    clock: (hardware as Hardware & { clock?: Clock }).clock,
    dataDir: config.DATA_DIR,
    log,
    activeRun,
  });
  await executor.resume();
  return executor;
}

/**
 * The program routes on any Fastify instance: the node's own server, and an experiment's private hardware API, so
 * that a script can start a program that goes on after the script (and its container) ended.
 */
export async function registerProgramRouteSet(
  server: FastifyInstance | Service,
  executor: ProgramExecutor,
): Promise<void> {
  const app = server as Service;
  const inflowPumps = () => executor.context().inflowPumps;

  // A callback plugin: the YAML parser is this scope's only, so no other route takes YAML.
  const scope = (inner: Service, _opts: unknown, done: (err?: Error) => void): void => {
    inner.addContentTypeParser(YAML_TYPES, { parseAs: 'buffer', bodyLimit: MAX_PROGRAM_BYTES }, (req, body, next) => {
      try {
        next(null, parseProgramYaml(jsonText(body as Buffer, req.headers['content-type'])));
      } catch (err) {
        next(err as Error, undefined);
      }
    });

    inner.route({
      ...routes.preview,
      bodyLimit: MAX_PROGRAM_BYTES,
      handler: async (request) => {
        const program = validateProgram(request.body, executor.context());
        const hours = request.query.hours ?? 240;
        return { status: 'success' as const, timeline: expand(program, 0, hours * 3600, inflowPumps()) };
      },
    });

    inner.route({
      ...routes.start,
      bodyLimit: MAX_PROGRAM_BYTES,
      handler: async (request) => executor.start(request.body),
    });
    done();
  };
  await app.register(scope);

  app.route({ ...routes.current, handler: async () => executor.status() });
  app.route({ ...routes.change, handler: async (request) => executor.change(request.body) });
  app.route({ ...routes.stop, handler: async () => executor.stop() });
}

/** The program routes of the node; `existing` is the node's executor (created here when absent: tests). */
export async function registerProgramRoutes(
  app: Service,
  config: Pick<NodeConfig, 'DATA_DIR'>,
  hardware: Hardware,
  experiments?: () => ExperimentStatusProvider | undefined,
  existing?: ProgramExecutor,
): Promise<ProgramExecutor> {
  let executor = existing;
  if (!executor) {
    executor = await createProgramExecutor(
      config,
      hardware,
      app.log,
      () => experiments?.()?.activeExperimentId() ?? null,
    );
    const created = executor;
    app.addHook('onClose', async () => created.detach());
  }
  await registerProgramRouteSet(app, executor);
  return executor;
}
