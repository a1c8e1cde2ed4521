// What a failed run's error message says: its Python exception (type and message) and where it was raised (the
// traceback's last frame), found in the end of its log, rather than whatever it printed last. stdout and stderr reach
// the node as separate streams, so the traceback may sit a little before the end of the log, between printed lines.

/** A traceback found in a log. */
export interface FailureSummary {
  /** `ValueError: the end of the flood` (the exception line as Python printed it). */
  exception: string;
  /** `File "/app/user_script.py", line 6, in <module>` (the last frame), or null when there is none. */
  frame: string | null;
  /** The traceback's lines as found (at most MAX_TRACEBACK_LINES). */
  traceback: string;
}

const HEADER = 'Traceback (most recent call last):';
/** An exception line: a (dotted) class name starting with a capital, alone or followed by `: message`. */
const EXCEPTION = /^([A-Za-z_]\w*\.)*[A-Z]\w*(: .*)?$/;
const FRAME = /^ {2}File "[^"]*", line \d+/;
const MAX_TRACEBACK_LINES = 60;

/** The last traceback in `text`, or null when there is none. */
export function findTraceback(text: string): FailureSummary | null {
  const at = text.lastIndexOf(HEADER);
  if (at < 0) return null;
  const lines = text.slice(at).split(/\r?\n/).slice(1);
  const kept = [HEADER];
  let frame: string | null = null;
  for (const line of lines.slice(0, 2000)) {
    if (FRAME.test(line)) {
      frame = line.trim();
      kept.push(line);
    } else if (line.startsWith('    ') || line.startsWith('  ') || /^\s*[~^]+\s*$/.test(line)) {
      // The source line of a frame, and its ^^^ markers.
      kept.push(line);
    } else if (EXCEPTION.test(line)) {
      kept.push(line);
      return { exception: line, frame, traceback: kept.slice(-MAX_TRACEBACK_LINES).join('\n') };
    }
    // Anything else is other output that came between the traceback's lines.
  }
  return null;
}

/** The `error_message` of a run that exited with `code`, from the end of its log. */
export function failureMessage(code: number, logTail: string, maxChars: number): string {
  const found = findTraceback(logTail);
  if (found) {
    const where = found.frame ? ` (${found.frame})` : '';
    const head = `Exit code ${code}: ${found.exception}${where}`;
    const rest = found.traceback.length > maxChars ? `…${found.traceback.slice(-maxChars)}` : found.traceback;
    return `${head}\n${rest}`;
  }
  const tail = logTail.trimEnd();
  const shown = tail.length > maxChars ? `…${tail.slice(-maxChars)}` : tail;
  return `Exit code ${code}${shown ? `: ${shown}` : ''}`;
}
