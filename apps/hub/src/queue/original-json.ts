// The original hub's experiment_queue.json: exported on demand, imported once from an original installation.
import { EXPERIMENT_ID_PATTERN, EXPERIMENT_STATE_LIST, type ExperimentState } from '@bioreactor/api';
import type { ExperimentQueue, ExperimentRow } from './queue.js';

export const ORIGINAL_QUEUE_FILE = 'experiment_queue.json';
const IMPORTED_KEY = 'imported_experiment_queue_json';

interface OriginalExperiment {
  experiment_id: string;
  user_session_id: string;
  script_content: string;
  status: string;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  exit_code: number | null;
  error_message: string | null;
  priority: number;
}

export interface OriginalQueueFile {
  experiments: Record<string, OriginalExperiment>;
  queue_order: string[];
}

export function exportOriginal(queue: ExperimentQueue): OriginalQueueFile {
  const rows = queue.all();
  const experiments: Record<string, OriginalExperiment> = {};
  for (const r of rows) {
    experiments[r.id] = {
      experiment_id: r.id,
      user_session_id: r.user_id,
      script_content: r.script_content,
      status: r.status,
      created_at: r.created_at,
      started_at: r.started_at,
      completed_at: r.completed_at,
      exit_code: r.exit_code,
      error_message: r.error_message,
      priority: 0,
    };
  }
  return { experiments, queue_order: rows.map((r) => r.id) };
}

/** The original wrote naive local timestamps; read them as UTC, the only reading that needs no guess of zone. */
function isoOrNull(value: unknown): string | null {
  if (typeof value !== 'string' || value === '') return null;
  const withZone = /[zZ]|[+-]\d\d:?\d\d$/.test(value) ? value : `${value}Z`;
  const ms = Date.parse(withZone);
  return Number.isNaN(ms) ? null : new Date(ms).toISOString();
}

/**
 * Imports an original queue file once (a marker in the database stops a second import). Experiments it lists as
 * running are recorded as interrupted: the original hub's run cannot be followed from here.
 */
export function importOriginal(
  queue: ExperimentQueue,
  file: OriginalQueueFile,
  defaultMaxDurationS: number,
): { imported: number; skipped: string[] } {
  if (queue.getMeta(IMPORTED_KEY)) return { imported: 0, skipped: [] };
  const skipped: string[] = [];
  const entries = Object.values(file.experiments ?? {});
  const order = new Map((file.queue_order ?? []).map((id, i) => [id, i]));
  entries.sort(
    (a, b) =>
      (order.get(a.experiment_id) ?? Number.MAX_SAFE_INTEGER) -
        (order.get(b.experiment_id) ?? Number.MAX_SAFE_INTEGER) ||
      String(a.created_at).localeCompare(String(b.created_at)),
  );
  const pattern = new RegExp(EXPERIMENT_ID_PATTERN);
  const now = new Date(queue.now()).toISOString();
  let imported = 0;
  queue.db.transaction(() => {
    let { k } = queue.db.prepare('SELECT COALESCE(MAX(order_key), 0) AS k FROM experiments').get() as { k: number };
    const insert = queue.db.prepare(
      `INSERT INTO experiments (id, name, user_id, script_content, status, order_key, max_duration_s, created_at,
         started_at, completed_at, updated_at, exit_code, error_message, dispatched)
       VALUES (@id, NULL, @user_id, @script_content, @status, @order_key, @max_duration_s, @created_at,
         @started_at, @completed_at, @updated_at, @exit_code, @error_message, @dispatched)`,
    );
    for (const e of entries) {
      const id = String(e.experiment_id ?? '');
      if (!pattern.test(id) || queue.get(id) || typeof e.script_content !== 'string') {
        skipped.push(id);
        continue;
      }
      let status = (EXPERIMENT_STATE_LIST as string[]).includes(e.status) ? (e.status as ExperimentState) : 'failed';
      let error = typeof e.error_message === 'string' ? e.error_message : null;
      if (status === 'running') {
        status = 'interrupted';
        error = 'Was running when the original hub was replaced; its end is unknown';
      }
      const final = !['queued', 'paused'].includes(status);
      const row: Partial<ExperimentRow> & Record<string, unknown> = {
        id,
        user_id: typeof e.user_session_id === 'string' && e.user_session_id !== '' ? e.user_session_id : 'imported',
        script_content: e.script_content,
        status,
        order_key: ++k,
        max_duration_s: defaultMaxDurationS,
        created_at: isoOrNull(e.created_at) ?? now,
        started_at: isoOrNull(e.started_at),
        completed_at: final ? (isoOrNull(e.completed_at) ?? now) : null,
        updated_at: now,
        exit_code: typeof e.exit_code === 'number' ? e.exit_code : null,
        error_message: error,
        dispatched: e.started_at ? 1 : 0,
      };
      insert.run(row);
      imported++;
    }
    queue.setMeta(IMPORTED_KEY, now);
  })();
  return { imported, skipped };
}
