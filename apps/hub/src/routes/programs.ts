// A program checked and expanded without queueing it (docs/programs.md): the hub checks the document's shape, as a
// submission would, and relays it to a node, which alone knows its components (pumps, relays, calibrations), for
// the rest of the checks and the timeline. An editor asks as the user types, so a program that is not valid is an
// answer (valid false, every problem at its path under `program`), not an error.
import { ApiError, hubRoutes, type Problem, type ProgramPreview } from '@bioreactor/api';
import type { Service } from '@bioreactor/service-kit';
import type { HubConfig } from '../config.js';
import type { Hub } from '../hub.js';
import type { NodeEntry } from '../nodes/registry.js';
import { readProgram } from '../queue/programs.js';
import { viewerOf } from './identity.js';

/** The node a preview is checked on: the one asked for, else an online real node, else an online twin. */
function previewNode(hub: Hub, name: string | undefined): NodeEntry | null {
  if (name !== undefined) {
    const entry = hub.registry.mustGet(name);
    if (entry.online !== true)
      throw new ApiError(
        'NODE_UNREACHABLE',
        `Node '${name}' is not answering, so it cannot check the program; leave out node to use any online node`,
      );
    return entry;
  }
  const online = hub.registry.list().filter((n) => n.online === true);
  return online.find((n) => n.twin === null) ?? online[0] ?? null;
}

/** A node's problems (paths in the document) at their paths under `program`, as the submission's are. */
function underProgram(problems: Problem[]): Problem[] {
  return problems.map((p) => {
    if (!p.field) return { ...p, field: 'program' };
    return {
      ...p,
      field: `program.${p.field}`,
      message: p.message.startsWith(p.field) ? `program.${p.message}` : p.message,
    };
  });
}

export async function programRoutes(app: Service, config: HubConfig, hub: Hub): Promise<void> {
  app.route({
    ...hubRoutes.programPreview,
    bodyLimit: 1024 * 1024,
    handler: async (request): Promise<ProgramPreview> => {
      viewerOf(request);
      let canonical: string;
      try {
        canonical = readProgram(request.body.program).canonical;
      } catch (err) {
        if (!(err instanceof ApiError) || err.code !== 'VALIDATION_FAILED') throw err;
        return { valid: false, problems: err.problems ?? [], message: err.message, node: null, timeline: null };
      }
      const node = previewNode(hub, request.query.node);
      if (!node)
        return {
          valid: true,
          problems: [],
          message:
            'The program’s shape is valid; no node is online to check it against its components and draw its timeline',
          node: null,
          timeline: null,
        };
      const hours = request.query.hours ?? 240;
      const res = await node.client.http.fetch('POST', `/api/v3/programs/preview?hours=${hours}`, {
        body: JSON.parse(canonical),
        headers: { accept: 'application/json' },
        timeoutMs: config.BIOREACTOR_NODE_TIMEOUT_MS,
      });
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      const body = parsed as
        | { timeline?: ProgramPreview['timeline']; code?: string; message?: string; problems?: Problem[] }
        | undefined;
      if (res.ok && body?.timeline)
        return {
          valid: true,
          problems: [],
          message: `Node '${node.name}' takes the program`,
          node: node.name,
          timeline: body.timeline,
        };
      if (res.status === 400 && body?.code === 'VALIDATION_FAILED') {
        const problems = underProgram(body.problems ?? [{ message: body.message ?? 'not valid' }]);
        return {
          valid: false,
          problems,
          message: `Node '${node.name}' refuses the program: ${problems.map((p) => p.message).join('; ')}`,
          node: node.name,
          timeline: null,
        };
      }
      throw new ApiError(
        'NODE_UNREACHABLE',
        `Node '${node.name}' answered ${res.status} to the program preview${body?.message ? `: ${body.message}` : ''}`,
      );
    },
  });
}
