// Who is calling: the user in X-Session-ID (trusted as the guide does, or vouched for by the token holder) and
// their role; a request naming no user is an operator's (the guide's bare queue commands).
import { ApiError, ROLE_HEADER, SESSION_HEADER, USER_ROLES, type UserRole } from '@bioreactor/api';
import type { FastifyRequest } from 'fastify';
import type { ExperimentSummary } from '../queue/queue.js';
import { OPERATOR, type Viewer } from '../queue/views.js';

function header(request: FastifyRequest, name: string): string | undefined {
  const v = request.headers[name];
  const s = Array.isArray(v) ? v[0] : v;
  return s === undefined || s.trim() === '' ? undefined : s.trim();
}

export function viewerOf(request: FastifyRequest): Viewer {
  const user = header(request, SESSION_HEADER);
  const role = header(request, ROLE_HEADER);
  if (role !== undefined && !(USER_ROLES as readonly string[]).includes(role)) {
    throw new ApiError('VALIDATION_FAILED', `X-User-Role must be one of ${USER_ROLES.join(', ')}, not '${role}'`);
  }
  if (user === undefined) return OPERATOR;
  if (user.length > 200) throw new ApiError('VALIDATION_FAILED', 'X-Session-ID is longer than 200 characters');
  return { userId: user, admin: (role as UserRole | undefined) === 'admin' };
}

/** The owner, an admin or an operator may act on an experiment; anyone else is refused. */
export function requireOwner(viewer: Viewer, row: ExperimentSummary, action: string): void {
  if (viewer.admin || viewer.userId === row.user_id) return;
  throw new ApiError(
    'FORBIDDEN',
    `Experiment '${row.id}' belongs to another user; only they or an admin may ${action}`,
  );
}

export function requireAdmin(viewer: Viewer, action: string): void {
  if (viewer.admin) return;
  throw new ApiError('FORBIDDEN', `Only an admin may ${action}`);
}
