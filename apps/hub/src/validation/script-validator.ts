// Script validation, the one place every upload form passes through: UTF-8, size, then syntax and imports
// checked by a long-lived Python worker (check-script.py), so a check costs a pipe round trip, not a process start.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ApiError, type Problem } from '@bioreactor/api';

const CHECKER = join(dirname(fileURLToPath(import.meta.url)), 'check-script.py');
const CHECK_TIMEOUT_MS = 10_000;

export interface ValidatorOptions {
  python: string;
  maxBytes: number;
  /** Told once when Python cannot be started (syntax and imports then go unchecked). */
  onUnavailable?: (why: string) => void;
}

interface Pending {
  resolve: (problems: Problem[]) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class ScriptValidator {
  private worker: ChildProcessWithoutNullStreams | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private unavailable: string | undefined;

  constructor(private readonly opts: ValidatorOptions) {}

  /** Decodes and checks a script given as bytes; throws the ApiError a submitter should see. */
  async validateBytes(bytes: Buffer): Promise<string> {
    this.checkSize(bytes.byteLength);
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      const at = firstInvalidUtf8(bytes);
      throw new ApiError(
        'SCRIPT_REJECTED',
        'The script is not valid UTF-8 text; save it as UTF-8 in your editor and upload it again',
        [{ line: at.line, column: at.column, message: 'Bytes that are not UTF-8 start here' }],
      );
    }
    await this.validate(text);
    return text;
  }

  /** Checks a script given as text (a JSON field). */
  async validate(script: string): Promise<void> {
    this.checkSize(Buffer.byteLength(script, 'utf8'));
    if (script.trim() === '') {
      throw new ApiError('SCRIPT_REJECTED', 'The script is empty; send the text of a Python file', [
        { line: 1, column: 1, message: 'Empty script' },
      ]);
    }
    const nul = script.indexOf('\u0000');
    if (nul >= 0) {
      const at = lineColumn(script, nul);
      throw new ApiError('SCRIPT_REJECTED', 'The script contains a NUL character; is it a binary file?', [
        { ...at, message: 'NUL character' },
      ]);
    }
    const problems = await this.check(script);
    if (problems.length > 0) {
      const first = problems[0] as Problem;
      const more =
        problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? 's' : ''})` : '';
      throw new ApiError(
        'SCRIPT_REJECTED',
        `The script was not queued: line ${first.line}, column ${first.column}: ${first.message}${more}`,
        problems,
      );
    }
  }

  private checkSize(bytes: number): void {
    if (bytes > this.opts.maxBytes) {
      throw new ApiError(
        'PAYLOAD_TOO_LARGE',
        `The script is ${bytes} bytes; the limit is ${this.opts.maxBytes} bytes. Write large data from the script instead of embedding it`,
      );
    }
  }

  /** Syntax and import problems, sorted by line; empty when Python is unavailable. */
  async check(script: string): Promise<Problem[]> {
    if (this.unavailable) return [];
    const worker = this.ensureWorker();
    if (!worker) return [];
    const id = this.nextId++;
    return new Promise<Problem[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error('the script checker did not answer in time'));
        this.restart();
      }, CHECK_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
      worker.stdin.write(`${JSON.stringify({ id, source: script })}\n`);
    });
  }

  /** Starts the Python worker ahead of the first upload. */
  warm(): void {
    if (!this.unavailable) this.ensureWorker();
  }

  private ensureWorker(): ChildProcessWithoutNullStreams | undefined {
    if (this.worker) return this.worker;
    const worker = spawn(this.opts.python, ['-I', '-u', CHECKER], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.worker = worker;
    worker.on('error', (err) => {
      this.unavailable = `${this.opts.python} cannot run: ${err.message}`;
      this.opts.onUnavailable?.(this.unavailable);
      this.failAll(new Error(this.unavailable));
      this.worker = undefined;
    });
    worker.on('exit', () => {
      if (this.worker === worker) this.worker = undefined;
      this.failAll(new Error('the script checker stopped'));
    });
    worker.stdin.on('error', () => {});
    worker.stderr.resume();
    createInterface({ input: worker.stdout }).on('line', (line) => {
      let reply: { id: number; problems: Problem[] };
      try {
        reply = JSON.parse(line);
      } catch {
        return;
      }
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      clearTimeout(p.timer);
      p.resolve(reply.problems);
    });
    return worker;
  }

  private failAll(err: Error): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      // Python vanished (not installed): accept the script rather than block every upload.
      if (this.unavailable) p.resolve([]);
      else p.reject(err);
    }
  }

  private restart(): void {
    const w = this.worker;
    this.worker = undefined;
    w?.kill('SIGKILL');
  }

  close(): void {
    const w = this.worker;
    this.worker = undefined;
    w?.stdin.end();
    w?.kill();
  }
}

function lineColumn(text: string, index: number): { line: number; column: number } {
  const before = text.slice(0, index);
  const line = before.split('\n').length;
  return { line, column: index - before.lastIndexOf('\n') };
}

function firstInvalidUtf8(bytes: Buffer): { line: number; column: number } {
  let lo = 0;
  let hi = bytes.length;
  const valid = (n: number) => {
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, n));
      return true;
    } catch {
      return false;
    }
  };
  // The longest valid prefix (a cut inside a multi-byte character is invalid too; close enough for a line number).
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (valid(mid)) lo = mid;
    else hi = mid - 1;
  }
  const prefix = bytes.subarray(0, lo).toString('utf8');
  return lineColumn(prefix, prefix.length);
}
