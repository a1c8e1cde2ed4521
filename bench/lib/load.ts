// A small closed-loop HTTP load generator: N workers over keep-alive connections, each sending its next request
// when the previous answer is read, for a fixed time. Reports latency percentiles and requests per second.
import { Agent, request } from 'node:http';
import { type LatencySummary, msSince, summarize } from './stats.js';

export interface LoadSpec {
  url: string;
  method?: 'GET' | 'POST';
  body?: unknown;
  headers?: Record<string, string>;
  concurrency: number;
  durationMs: number;
  /** Requests before measuring starts (JIT, connection set-up). */
  warmup?: number;
}

export interface LoadResult extends LatencySummary {
  requestsPerSecond: number;
  errors: number;
  statuses: Record<number, number>;
}

export interface Reply {
  status: number;
  body: string;
}

/** One HTTP request over `agent`; the whole body read as text. */
export function send(
  agent: Agent,
  url: URL,
  method: string,
  payload: string | undefined,
  headers: Record<string, string>,
): Promise<Reply> {
  return new Promise((resolveReply, reject) => {
    const req = request(
      url,
      {
        agent,
        method,
        headers: payload === undefined ? headers : { 'content-type': 'application/json', ...headers },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolveReply({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: spec.concurrency });
  const url = new URL(spec.url);
  const method = spec.method ?? 'GET';
  const payload = spec.body === undefined ? undefined : JSON.stringify(spec.body);
  const headers = spec.headers ?? {};
  try {
    const warmup = spec.warmup ?? spec.concurrency * 20;
    for (let i = 0; i < warmup; i += spec.concurrency) {
      await Promise.all(Array.from({ length: spec.concurrency }, () => send(agent, url, method, payload, headers)));
    }
    const latencies: number[] = [];
    const statuses: Record<number, number> = {};
    let errors = 0;
    const started = process.hrtime.bigint();
    const endAt = Date.now() + spec.durationMs;
    const worker = async () => {
      while (Date.now() < endAt) {
        const t = process.hrtime.bigint();
        try {
          const reply = await send(agent, url, method, payload, headers);
          latencies.push(msSince(t));
          statuses[reply.status] = (statuses[reply.status] ?? 0) + 1;
          if (reply.status >= 400) errors++;
        } catch {
          errors++;
        }
      }
    };
    await Promise.all(Array.from({ length: spec.concurrency }, worker));
    const seconds = msSince(started) / 1000;
    return { ...summarize(latencies), requestsPerSecond: latencies.length / seconds, errors, statuses };
  } finally {
    agent.destroy();
  }
}
