// Runs the script with the machine's python3, for machines without a Docker engine (development, CI of the hub
// and web server). Same environment variables and output layout as a container, PYTHONPATH with python/src,
// a per-run loopback hardware API, the file-size limit through ulimit, and its own process group so a stop ends
// every process the script started. There is no isolation: it is refused with real hardware unless allowed.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import {
  ACCELERATED_MODULE,
  acceleratedEnv,
  type ExperimentRunner,
  type OutputChunk,
  type RunExit,
  type RunHandle,
  type RunnerInfoBody,
  type RunSpec,
} from './runner.js';

/** python/src of this repository, where bioreactor_client lives. */
export const CLIENT_SOURCE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../python/src');

export interface LocalRunnerOptions {
  python?: string;
  /** Extra PYTHONPATH entries before python/src. */
  pythonPath?: string[];
  /** Refusal shown instead of running (HARDWARE_MODE=real without the explicit allowance). */
  refusal?: string | undefined;
}

/** Environment variables of the parent worth keeping for python3 itself (never the node's secrets). */
const INHERITED_ENV = ['PATH', 'LANG', 'LC_ALL', 'TZ', 'PYENV_ROOT', 'PYENV_VERSION', 'SYSTEMROOT'];

export class LocalRunner implements ExperimentRunner {
  readonly kind = 'local' as const;
  readonly endpoint = 'tcp' as const;
  private readonly python: string;
  private executable: string;
  private last: RunnerInfoBody;

  constructor(private readonly opts: LocalRunnerOptions = {}) {
    this.python = opts.python ?? 'python3';
    this.executable = this.python;
    this.last = { kind: 'local', available: false, detail: 'not probed yet' };
  }

  info(): RunnerInfoBody {
    return this.last;
  }

  async probe(): Promise<RunnerInfoBody> {
    if (this.opts.refusal) {
      this.last = { kind: 'local', available: false, detail: this.opts.refusal };
      return this.last;
    }
    // Asks the interpreter for its own path once, so a run starts it directly (not through a shim such as pyenv's).
    const answer = await new Promise<string | null>((done) => {
      const child = spawn(this.python, ['-c', 'import sys; print(sys.executable); print(sys.version.split()[0])'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let text = '';
      child.stdout.on('data', (d: Buffer) => {
        text += d.toString();
      });
      child.stderr.resume();
      child.on('error', () => done(null));
      child.on('close', (code) => done(code === 0 ? text.trim() : null));
    });
    const [executable, version] = answer?.split('\n') ?? [];
    if (executable) this.executable = executable;
    this.last = version
      ? {
          kind: 'local',
          available: true,
          detail: `local Python ${version} (no container: no isolation or memory limit; scripts run as the node's user)`,
        }
      : { kind: 'local', available: false, detail: `${this.python} was not found: install Python 3.9 or newer` };
    return this.last;
  }

  async image(): Promise<{ image: string | null; digest: string | null }> {
    return { image: null, digest: null };
  }

  async start(spec: RunSpec): Promise<RunHandle> {
    if (spec.hardware.kind !== 'tcp') throw new Error('the local runner needs a loopback hardware endpoint');
    if (this.opts.refusal) throw new Error(this.opts.refusal);
    await spec.ready;
    const env: Record<string, string> = {};
    for (const key of INHERITED_ENV) {
      const value = process.env[key];
      if (value !== undefined) env[key] = value;
    }
    Object.assign(env, {
      BIOREACTOR_NODE_API_URL: spec.hardware.url,
      EXPERIMENT_ID: spec.experimentId,
      OUTPUT_DIR: spec.outputDir,
      PYTHONUNBUFFERED: '1',
      PYTHONDONTWRITEBYTECODE: '1',
      PYTHONPATH: [...(this.opts.pythonPath ?? []), CLIENT_SOURCE_DIR].join(':'),
      MPLBACKEND: 'Agg',
      HOME: process.env.HOME ?? spec.outputDir,
      ...(spec.time ? acceleratedEnv(spec.time) : {}),
    });
    // At accelerated time the script runs through the client's module that scales its clock and sleeps.
    const script = spec.time ? ['-m', ACCELERATED_MODULE, spec.scriptPath] : [spec.scriptPath];
    // ulimit -f counts 512-byte blocks; the shell then replaces itself with python3.
    const blocks = Math.max(1, Math.floor(spec.limits.fileBytes / 512));
    const child = spawn(
      '/bin/sh',
      ['-c', `ulimit -f ${blocks} 2>/dev/null; exec "$@"`, 'sh', this.executable, '-u', ...script],
      { cwd: spec.outputDir, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
    );
    await new Promise<void>((ok, fail) => {
      child.once('spawn', ok);
      child.once('error', fail);
    });
    return processHandle(child);
  }

  async reattach(): Promise<RunHandle | null> {
    // A local process cannot be re-attached: its pipes died with the node.
    return null;
  }

  /** Ends a script orphaned by a node crash, if that process is still the one the node started. */
  async abandon(ref: string, spec: RunSpec): Promise<void> {
    const pid = Number(ref);
    if (!Number.isInteger(pid) || pid <= 1) return;
    try {
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
      if (!cmdline.includes(spec.scriptPath)) return;
      process.kill(-pid, 'SIGKILL');
    } catch {
      // Gone already, or not ours to end.
    }
  }
}

async function* chunks(stream: PassThrough): AsyncGenerator<OutputChunk> {
  for await (const chunk of stream) yield chunk as OutputChunk;
}

function processHandle(child: ChildProcess): RunHandle {
  const output = new PassThrough({ objectMode: true });
  let open = 2;
  for (const [name, stream] of [
    ['stdout', child.stdout],
    ['stderr', child.stderr],
  ] as const) {
    stream?.on('data', (data: Buffer) => output.write({ data, stream: name } satisfies OutputChunk));
    stream?.on('close', () => {
      open -= 1;
      if (open === 0) output.end();
    });
  }
  const exit = new Promise<RunExit>((done) => {
    child.once('exit', (code, signal) => {
      const signals: Record<string, number> = { SIGKILL: 9, SIGTERM: 15, SIGINT: 2, SIGXFSZ: 25, SIGSEGV: 11 };
      done({ exitCode: code ?? 128 + (signal ? (signals[signal] ?? 0) : 0), oomKilled: false });
    });
  });
  let ended = false;
  void exit.then(() => {
    // The script has ended: whatever it left running in its group goes too, so the pipes close.
    if (child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Nothing left.
      }
    }
    ended = true;
  });
  const signalGroup = (signal: NodeJS.Signals) => {
    if (ended || child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // The group is gone.
    }
  };
  return {
    ref: String(child.pid),
    output: chunks(output),
    wait: () => exit,
    stop: async (graceMs: number) => {
      signalGroup('SIGTERM');
      const timer = setTimeout(() => signalGroup('SIGKILL'), graceMs);
      await exit;
      clearTimeout(timer);
    },
    release: async () => {
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // Nothing left.
        }
      }
    },
  };
}
