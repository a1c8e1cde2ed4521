// HTTP client for service-to-service calls: timeouts, the service token, and network errors as catalogue codes.
import { ApiError, bearer, type ErrorBody, type ErrorCode, isErrorCode } from '@bioreactor/api';

export interface ServiceClientOptions {
  baseUrl: string;
  token?: string | undefined;
  /** Catalogue code for "could not reach it" (NODE_UNREACHABLE, HUB_UNREACHABLE). */
  unreachable: ErrorCode;
  /** What the peer is called in messages, e.g. `node pi-1`. */
  peerName: string;
  timeoutMs?: number;
}

export interface RequestOptions {
  body?: unknown;
  headers?: Record<string, string>;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export class ServiceClient {
  readonly baseUrl: string;
  constructor(private readonly opts: ServiceClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
  }

  headers(extra?: Record<string, string>): Record<string, string> {
    const h: Record<string, string> = { ...extra };
    if (this.opts.token) h.authorization = bearer(this.opts.token);
    return h;
  }

  /** Raw fetch with token and timeout; network failures become the `unreachable` ApiError. */
  async fetch(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
    const timeout = AbortSignal.timeout(opts.timeoutMs ?? this.opts.timeoutMs ?? 10_000);
    const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
    const headers = this.headers(opts.headers);
    let body: string | undefined;
    if (opts.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(opts.body);
    }
    try {
      return await fetch(`${this.baseUrl}${path}`, { method, headers, body, signal });
    } catch (err) {
      const why = timeout.aborted
        ? 'timed out'
        : (err as Error).cause
          ? String((err as Error & { cause: Error }).cause.message ?? (err as Error).cause)
          : (err as Error).message;
      throw new ApiError(
        this.opts.unreachable,
        `${this.opts.peerName} at ${this.baseUrl} did not answer ${method} ${path}: ${why}`,
      );
    }
  }

  /** JSON request; a non-2xx reply is rethrown as the peer's own ApiError when it has a catalogue code. */
  async json<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.fetch(method, path, opts);
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!res.ok)
      throw peerError(res.status, parsed, `${this.opts.peerName} answered ${res.status} to ${method} ${path}`);
    return parsed as T;
  }
}

export function peerError(status: number, body: unknown, fallback: string): ApiError {
  const b = body as Partial<ErrorBody> | undefined;
  if (b && isErrorCode(b.code)) return new ApiError(b.code, b.message ?? fallback, b.problems);
  if (status === 404) return new ApiError('NOT_FOUND', fallback);
  return new ApiError('INTERNAL', fallback);
}
