// The hardware's clock as an API: GET /api/v3/clock, and on an experiment's private server the same reading on every
// reply (CLOCK_HEADER). A script at accelerated time (bioreactor_client.accelerated) follows the twin with it: the
// twin's paced clock waits for a busy node, and a script on the wall clock times the scale would run ahead of it.
import { CLOCK_HEADER, type NodeClock, nodeRoutes } from '@bioreactor/api';
import type { Service } from '@bioreactor/service-kit';
import type { FastifyInstance, RouteOptions } from 'fastify';

/** What the route reads: any hardware clock; a simulation's scalable one also says its rate. */
export interface ReadableClock {
  now(): number;
  readonly scale?: number;
}

/** The rate is measured over at least this much wall time (ms), so that one late reply does not make it jump. */
const RATE_WINDOW_MS = 1000;

/**
 * Reads `clock` with the rate it reached lately: over the wall time since a reference point between one and two
 * windows old (or since the rate last changed, when that is more recent).
 */
export function clockReader(clock: ReadableClock): () => NodeClock {
  let scale = clock.scale ?? 1;
  let reference: { wall: number; clock: number } | null = null;
  let older: { wall: number; clock: number } | null = null;
  return () => {
    const wall = performance.now();
    const now = clock.now();
    const current = clock.scale ?? 1;
    if (current !== scale || !reference) {
      scale = current;
      reference = { wall, clock: now };
      older = null;
    } else if (wall - reference.wall >= RATE_WINDOW_MS) {
      older = reference;
      reference = { wall, clock: now };
    }
    const from = older ?? reference;
    const spanMs = wall - from.wall;
    // Too short a span says more about the timer than about the clock: until then, the rate asked for.
    const achieved = spanMs >= 50 ? (now - from.clock) / spanMs : scale;
    return { now_ms: now, time_scale: scale, achieved_time_scale: Math.round(achieved * 10) / 10 };
  };
}

/** The header's value: `<now_ms>; time_scale=<n>; achieved=<n>`. */
export function clockHeader(reading: NodeClock): string {
  return `${reading.now_ms.toFixed(3)}; time_scale=${reading.time_scale}; achieved=${reading.achieved_time_scale}`;
}

/** GET /api/v3/clock; with `header`, every reply of `app` carries the clock as it leaves (CLOCK_HEADER). */
export function registerClockRoute(
  server: FastifyInstance | Service,
  clock: ReadableClock,
  opts: { header?: boolean } = {},
): void {
  const app = server as FastifyInstance;
  const read = clockReader(clock);
  app.route({ ...nodeRoutes.clock, handler: async () => read() } as RouteOptions);
  if (opts.header) {
    // onSend: as late as the reply can be stamped, so that the script's anchor is as fresh as it can be.
    app.addHook('onSend', async (_request, reply, payload) => {
      reply.header(CLOCK_HEADER, clockHeader(read()));
      return payload;
    });
  }
}
