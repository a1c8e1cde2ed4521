// Running docker and compose from the deployment tests: which tools exist, and commands that fail with their output.
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function works(cmd: string, args: string[]): boolean {
  const r = spawnSync(cmd, args, { stdio: 'ignore', timeout: 20_000 });
  return r.status === 0;
}

/** Why Docker cannot be used here, or null when an engine answers. */
export function dockerUnavailable(): string | null {
  if (!works('docker', ['--version'])) return 'the docker CLI is not installed (apt-get install docker.io)';
  if (!works('docker', ['info'])) return 'no Docker engine answers (scripts/docker-engine.sh starts one)';
  return null;
}

/** `docker compose` (v2 plugin) when present, else the standalone `docker-compose` (Debian's 1.29), else null. */
export function composeCommand(): string[] | null {
  if (works('docker', ['compose', 'version'])) return ['docker', 'compose'];
  if (works('docker-compose', ['version'])) return ['docker-compose'];
  return null;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  input?: string;
  timeoutMs?: number;
}

/** Runs a command to completion; rejects with the command line and the tail of its output when it fails. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = execFile(
      cmd,
      args,
      {
        cwd: opts.cwd ?? repoRoot,
        env: opts.env ?? process.env,
        timeout: opts.timeoutMs ?? 120_000,
        maxBuffer: 64 * 1024 * 1024,
        encoding: 'utf8',
      },
      (err, stdout, stderr) => {
        if (err) {
          const tail = `${stdout}\n${stderr}`.trim().split('\n').slice(-40).join('\n');
          reject(new Error(`${cmd} ${args.join(' ')} failed (${err.message.split('\n')[0]}):\n${tail}`));
        } else {
          resolvePromise(stdout);
        }
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Follows `docker events` for containers from now on; `stop()` ends it and returns every event seen. */
export function followContainerEvents(): { events: DockerEvent[]; stop: () => void } {
  const events: DockerEvent[] = [];
  const child: ChildProcess = spawn('docker', ['events', '--filter', 'type=container', '--format', '{{json .}}'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let rest = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) if (line.trim()) events.push(JSON.parse(line) as DockerEvent);
  });
  return { events, stop: () => child.kill() };
}

export interface DockerEvent {
  status?: string;
  Action: string;
  id: string;
  Actor: { ID: string; Attributes: Record<string, string> };
}
