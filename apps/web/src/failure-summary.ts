// What went wrong with a failed run, in one line: the Python exception (type and message) and the traceback's last
// frame, read from the error message the node writes (`Exit code 1: ValueError: msg (File "…", line 6, in main)`
// followed by the traceback); any other message by its first line.
import type { FailureSummary, HubExperiment } from '@bioreactor/api';

const MAX_SUMMARY = 300;
/** The node's head line: `Exit code N: <exception line>` and, when it found a frame, ` (File "f", line L, in fn)`. */
const HEAD = /^Exit code (-?\d+): (.*?)(?: \(File "([^"]*)", line (\d+)(?:, in ([^)]*))?\))?$/;
/** A Python exception line: a (dotted) class name starting with a capital, alone or with `: message`. */
const EXCEPTION = /^((?:[A-Za-z_]\w*\.)*[A-Z]\w*)(?:: (.*))?$/;
const TRACEBACK = 'Traceback (most recent call last):';

function clip(text: string): string {
  return text.length > MAX_SUMMARY ? `${text.slice(0, MAX_SUMMARY - 1)}…` : text;
}

/** The summary of an error message, or null when there is none. */
export function summarizeFailure(errorMessage: string | null, exitCode: number | null = null): FailureSummary | null {
  if (!errorMessage?.trim()) return null;
  const [first = '', ...rest] = errorMessage.trim().split('\n');
  const plain: FailureSummary = {
    summary: clip(first.trim()),
    exception: null,
    message: null,
    file: null,
    line: null,
    function: null,
    exit_code: exitCode,
  };
  const head = HEAD.exec(first.trim());
  if (!head) return plain;
  const [, code, exceptionLine = '', file, line, fn] = head;
  // Only a line the node took from a traceback is an exception; "Exit code 1: row 0" is what the script printed.
  const fromTraceback = file !== undefined || rest.some((l) => l.trim() === TRACEBACK);
  const exception = fromTraceback ? EXCEPTION.exec(exceptionLine.trim()) : null;
  if (!exception) return { ...plain, exit_code: exitCode ?? Number(code) };
  const [, type = '', message = null] = exception;
  const where = line
    ? ` (line ${line}${fn ? `, in ${fn}` : ''}${file && !/user_script\.py$/.test(file) ? ` of ${file}` : ''})`
    : '';
  return {
    summary: clip(`${type}${message ? `: ${message}` : ''}${where}`),
    exception: type,
    message,
    file: file ?? null,
    line: line ? Number(line) : null,
    function: fn ?? null,
    exit_code: exitCode ?? Number(code),
  };
}

/** A summary for a run that failed or was interrupted with a message; null for every other state. */
export function failureOf(experiment: Pick<HubExperiment, 'status' | 'error_message' | 'exit_code'>) {
  if (!['failed', 'interrupted', 'cancelled'].includes(experiment.status)) return null;
  return summarizeFailure(experiment.error_message, experiment.exit_code);
}
