// Small shapes shared by the routes of several services.
import { Type } from 'typebox';
import { ExperimentId } from './experiments.js';
import type { RouteDocs } from './openapi.js';

/** `{status:"success", message}`: the original's acknowledgement body. */
export const Ack = Type.Object({
  status: Type.Literal('success'),
  message: Type.String(),
});

/** Body of `GET /health` on the hub and the web server. */
export const ServiceHealth = Type.Object({
  status: Type.Union([Type.Literal('healthy'), Type.Literal('degraded')]),
  service: Type.String(),
  version: Type.String(),
  uptime_s: Type.Number(),
  checks: Type.Optional(
    Type.Record(Type.String(), Type.Object({ ok: Type.Boolean(), message: Type.Optional(Type.String()) })),
  ),
});

/** A route contract: method, URL and the schemas Fastify validates and documents. */
export interface RouteContract {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  readonly url: string;
  readonly schema: {
    /** The route object's key, set by `withOperationIds`: the OpenAPI operationId and the client's method name. */
    readonly operationId?: string;
    /** What only the OpenAPI document says (Fastify neither validates nor reads it); see openapi.ts. */
    readonly docs?: RouteDocs;
    readonly summary?: string;
    readonly description?: string;
    readonly tags?: readonly string[];
    readonly params?: unknown;
    readonly querystring?: unknown;
    readonly body?: unknown;
    readonly headers?: unknown;
    readonly response: Readonly<Record<number, unknown>>;
  };
}

/** Declares a route contract while keeping its literal type for the type provider. */
export function defineRoute<const T extends RouteContract>(route: T): T {
  return route;
}

export const IdParams = Type.Object({ id: ExperimentId });

/** Version every service reports (the guide's v3 system). */
export const SYSTEM_VERSION = '3.0.0';
