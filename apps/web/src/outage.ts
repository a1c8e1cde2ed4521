// What a browser is told when a service behind the web server does not answer: what it means for the user and what
// to do, in plain words. The technical detail (the peer's address, the request, the socket error) goes to the log.
import type { Service } from '@bioreactor/service-kit';

export const PLAIN_MESSAGES = {
  HUB_UNREACHABLE:
    'The experiment queue is not answering right now. Your experiments and their results are safe; this page tries again by itself. If it lasts more than a few minutes, tell the lab manager.',
  NODE_UNREACHABLE:
    'The bioreactor is not answering right now. An experiment that is running goes on and keeps its results; this page tries again by itself. If it lasts more than a few minutes, tell the lab manager.',
  INTERNAL:
    'Something went wrong in the web server. Try again; if it keeps happening, tell the lab manager (the server log has the details).',
} as const;

type Plain = keyof typeof PLAIN_MESSAGES;

/** Replaces the message of every outage reply (503 hub or node unreachable, 500 internal) by its plain wording. */
export function plainOutageMessages(app: Service): void {
  app.addHook('preSerialization', async (request, reply, payload) => {
    const body = payload as { code?: unknown; message?: unknown } | null;
    if (reply.statusCode < 500 || typeof body !== 'object' || body === null) return payload;
    const code = body.code as Plain;
    if (typeof code !== 'string' || !(code in PLAIN_MESSAGES)) return payload;
    if (body.message !== PLAIN_MESSAGES[code])
      request.log.warn({ code, detail: body.message, url: request.url }, 'service behind the web server unavailable');
    return { ...body, message: PLAIN_MESSAGES[code] };
  });
}
