// The script or program being written, kept in this browser (localStorage) as it is typed, so a reload or another page loses
// nothing; and a fresh Idempotency-Key for each submission.

const KEY = 'bioreactor.uploadDraft';

export interface Draft {
  script: string;
  /** What is being written: a Python script (default) or a program (JSON or YAML), kept apart. */
  kind?: 'script' | 'program';
  program?: string;
  name: string;
  maxMinutes: string;
  /** The experiment it was loaded from (Edit and resubmit), if any. */
  from?: string | undefined;
  savedAt: number;
}

export function loadDraft(): Draft | undefined {
  try {
    const raw = localStorage.getItem(KEY);
    if (!raw) return undefined;
    const d = JSON.parse(raw) as Partial<Draft>;
    if (typeof d.script !== 'string') return undefined;
    return {
      script: d.script,
      kind: d.kind === 'program' ? 'program' : 'script',
      program: typeof d.program === 'string' ? d.program : '',
      name: typeof d.name === 'string' ? d.name : '',
      maxMinutes: typeof d.maxMinutes === 'string' ? d.maxMinutes : '',
      from: typeof d.from === 'string' ? d.from : undefined,
      savedAt: typeof d.savedAt === 'number' ? d.savedAt : Date.now(),
    };
  } catch {
    return undefined;
  }
}

/** Saves the draft; an empty one is removed. Returns false when the browser refuses (private mode, quota). */
export function saveDraft(draft: Omit<Draft, 'savedAt'>): boolean {
  try {
    if (!draft.script.trim() && !draft.program?.trim() && !draft.name.trim() && !draft.maxMinutes.trim())
      localStorage.removeItem(KEY);
    else localStorage.setItem(KEY, JSON.stringify({ ...draft, savedAt: Date.now() }));
    return true;
  } catch {
    return false;
  }
}

export function clearDraft(): void {
  try {
    localStorage.removeItem(KEY);
  } catch {
    // Nothing kept, nothing to clear.
  }
}

/** A UUID v4 for Idempotency-Key; crypto.randomUUID needs HTTPS, getRandomValues works on a lab's plain HTTP too. */
export function newIdempotencyKey(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x40;
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
