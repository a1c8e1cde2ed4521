// The hardware-only API one experiment reaches while it runs: a second HTTP server with the v3 and v2 hardware
// routes and the program routes, and nothing else (no experiment, admin or docs routes), on a Unix socket mounted into the container or
// on a loopback port for the local runner. Closing it is how the node ends an experiment's access.
import { chmod, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { installErrorHandlers } from '@bioreactor/service-kit';
import Fastify, { type FastifyInstance } from 'fastify';
import { registerClockRoute } from '../routes/clock.js';
import type { HardwareEndpoint } from '../runner/runner.js';

/** One actuator command as the node's command log keeps it. */
export interface ActuatorCommand {
  time: string;
  /** Who asked: "api", "experiment:<id>", "safety…", "startup", "restore:<id>"… */
  source: string;
  component: string;
  values: Record<string, unknown>;
}

/** What the experiment lifecycle needs from the node's hardware (apps/node/src/hardware). */
export interface ExperimentHardware {
  /** Peltier off, stirrer to its default, pumps off, lights off; `keep` (actuatorKey names) left as they are. */
  applySafeState(reason: string, keep?: readonly string[]): unknown;
  capabilities(): unknown;
  hardwareConfig(): unknown;
  /** What each actuator has done since the node started (pumped volumes, valve openings), for the manifest. */
  counters?(): unknown;
  /** Actuator commands since a moment (ISO 8601), oldest first. */
  commandLog(sinceIso?: string): unknown;
  /** Calls `listener` with every actuator command from now on, as it is carried out; returns the unsubscribe. */
  onCommand?(listener: (entry: ActuatorCommand) => void): () => void;
  /** Every component's state (`{components}`), for a program run's CSV rows. */
  allStates?(): unknown;
  /** The hardware's clock (a pre-flight's runs faster; `scale` says how many times, on a simulation). */
  readonly clock?: { now(): number; readonly scale?: number };
  /** Carries out one actuator command (the v3 control body) with the node's safety rules, as `source`. */
  control?(component: string, body: Record<string, unknown>, source: string): Promise<unknown>;
}

/** Registers the hardware routes on any Fastify instance; `source` tags every actuator command they accept. */
export type RegisterHardwareRoutes = (
  app: FastifyInstance,
  hardware: ExperimentHardware,
  opts: { source: string },
) => unknown;

/** Registers the program routes (start, state, change, stop, preview) on an experiment's private server. */
export type RegisterProgramRoutes = (app: FastifyInstance) => Promise<unknown>;

export interface HardwareGateway {
  readonly endpoint: HardwareEndpoint;
  close(): Promise<void>;
}

export type OpenHardwareGateway = (
  experimentId: string,
  where: { kind: 'unix'; socketDir: string } | { kind: 'tcp' },
) => Promise<HardwareGateway>;

export const SOCKET_NAME = 'hardware.sock';

/** A command of the script the node refused (for the pre-flight report). */
export type OnRefused = (
  experimentId: string,
  refusal: { method: string; path: string; code: string; message: string },
) => void;

export function hardwareGatewayFactory(
  hardware: ExperimentHardware | undefined,
  registerHardwareRoutes: RegisterHardwareRoutes | undefined,
  onRefused?: OnRefused,
  registerProgramRoutes?: RegisterProgramRoutes,
): OpenHardwareGateway {
  return async (experimentId, where) => {
    const app = Fastify({ logger: false, forceCloseConnections: true, bodyLimit: 64 * 1024 });
    installErrorHandlers(app);
    if (onRefused) {
      // Commands only: a read that fails (a sensor unavailable) refuses nothing the script asked the culture to do.
      app.addHook('onError', async (request, _reply, error) => {
        if (request.method === 'GET' || request.method === 'HEAD') return;
        const code = (error as { code?: unknown }).code;
        onRefused(experimentId, {
          method: request.method,
          path: request.url.split('?')[0] ?? request.url,
          code: typeof code === 'string' ? code : 'ERROR',
          message: error.message,
        });
      });
    }
    app.get('/health', async () => ({ status: 'healthy', experiment_id: experimentId }));
    // A script at accelerated time follows the twin's clock from every reply, and from GET /api/v3/clock while idle.
    if (hardware?.clock) registerClockRoute(app, hardware.clock, { header: true });
    if (hardware && registerHardwareRoutes) {
      await registerHardwareRoutes(app, hardware, { source: `experiment:${experimentId}` });
    }
    // A program the script starts belongs to its run and outlives it: the node runs it, not the script.
    await registerProgramRoutes?.(app);
    if (where.kind === 'tcp') {
      await app.listen({ host: '127.0.0.1', port: 0 });
      const address = app.server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      return { endpoint: { kind: 'tcp', url: `http://127.0.0.1:${port}` }, close: () => app.close() };
    }
    await mkdir(where.socketDir, { recursive: true });
    // The container's user is not the node's: it needs to reach the folder and write to the socket.
    await chmod(where.socketDir, 0o755);
    const socketPath = join(where.socketDir, SOCKET_NAME);
    await rm(socketPath, { force: true });
    await app.listen({ path: socketPath });
    await chmod(socketPath, 0o666);
    return {
      endpoint: { kind: 'unix', socketPath, socketDir: where.socketDir },
      close: async () => {
        await app.close();
        await rm(socketPath, { force: true });
      },
    };
  };
}
