// Talking to the hub as a client would: submit a script, follow experiment changes over its event stream.
import { connectSse, type SseConnection } from './sse.js';
import { waitFor } from './system.js';

export interface HubExperimentView {
  experiment_id: string;
  status: string;
  user_session_id: string;
  node: string | null;
}

export interface SeenChange {
  status: string;
  atNs: bigint;
}

/** Every experiment.updated the hub sends, by experiment id, with the moment it arrived. */
export class HubWatcher {
  readonly changes = new Map<string, SeenChange[]>();
  private conn: SseConnection | undefined;
  private listeners = new Set<() => void>();

  constructor(
    private readonly hubUrl: string,
    private readonly headers: Record<string, string> = {},
  ) {}

  async open(): Promise<void> {
    this.conn = connectSse(
      `${this.hubUrl}/api/events`,
      (e) => {
        if (e.event !== 'experiment.updated') return;
        const { experiment } = JSON.parse(e.data) as { experiment: HubExperimentView };
        const list = this.changes.get(experiment.experiment_id) ?? [];
        if (list.at(-1)?.status !== experiment.status) list.push({ status: experiment.status, atNs: e.receivedNs });
        this.changes.set(experiment.experiment_id, list);
        for (const fn of this.listeners) fn();
      },
      this.headers,
    );
    const status = await this.conn.opened;
    if (status !== 200) throw new Error(`GET /api/events answered ${status}`);
  }

  /** When the experiment was first seen in `status` (waits for it). */
  until(id: string, statuses: string[], timeoutMs = 60_000): Promise<SeenChange> {
    return new Promise((resolveSeen, reject) => {
      const check = () => {
        const hit = this.changes.get(id)?.find((c) => statuses.includes(c.status));
        if (!hit) return false;
        this.listeners.delete(check);
        clearTimeout(timer);
        resolveSeen(hit);
        return true;
      };
      const timer = setTimeout(() => {
        this.listeners.delete(check);
        reject(
          new Error(`experiment ${id} never reached ${statuses.join('/')}: ${JSON.stringify(this.changes.get(id))}`),
        );
      }, timeoutMs);
      this.listeners.add(check);
      check();
    });
  }

  close(): void {
    this.conn?.close();
  }
}

export async function submit(
  hubUrl: string,
  script: string,
  headers: Record<string, string>,
  extra: Record<string, unknown> = {},
): Promise<string> {
  const res = await fetch(`${hubUrl}/api/experiments/start`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ script_content: script, ...extra }),
  });
  const body = (await res.json()) as { experiment_id?: string; message?: string };
  if (!res.ok || !body.experiment_id) throw new Error(`submit answered ${res.status}: ${JSON.stringify(body)}`);
  return body.experiment_id;
}

export async function experimentStatus(
  hubUrl: string,
  id: string,
  headers: Record<string, string>,
): Promise<HubExperimentView> {
  const res = await fetch(`${hubUrl}/api/experiments/${id}/status`, { headers });
  if (!res.ok) throw new Error(`status of ${id} answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { experiment: HubExperimentView }).experiment;
}

/** Waits (by polling the hub's status route) until the experiment is in one of `statuses`. */
export async function untilStatus(
  hubUrl: string,
  id: string,
  statuses: readonly string[],
  headers: Record<string, string>,
  timeoutMs = 60_000,
): Promise<HubExperimentView> {
  let last: HubExperimentView | undefined;
  await waitFor(
    `experiment ${id} to reach ${statuses.join('/')}`,
    async () => {
      last = await experimentStatus(hubUrl, id, headers);
      return statuses.includes(last.status);
    },
    timeoutMs,
    100,
  );
  if (!last) throw new Error('unreachable');
  return last;
}
