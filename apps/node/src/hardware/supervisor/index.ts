// The node's side of the output supervisor (supervisor.mjs): which sysfs outputs it guards, the file that keeps that
// list for the next start, the start-up step that turns them off, and the heartbeat. docs/hardware.md, "When the
// node dies".
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HardwareFile } from '../hardware-file.js';
import { REGISTRY } from '../registry.js';
import type { LinuxPaths } from '../transports/linux.js';
import type { HardwareLog } from '../types.js';
import { type GuardedOutput, type OffReport, turnOutputsOff } from './outputs-off.mjs';

export type { GuardedOutput, OffReport };

const SUPERVISOR_SCRIPT = fileURLToPath(new URL('./supervisor.mjs', import.meta.url));

/** Where the last run's outputs are kept, so a start can turn them off before it reads anything else. */
export const outputsFile = (dataDir: string) => resolve(dataDir, 'hardware', 'outputs.json');
/** The supervisor's pid while it runs (the container entrypoint waits for it after the node exits). */
export const supervisorPidFile = (dataDir: string) => resolve(dataDir, 'hardware', 'supervisor.pid');

/**
 * The sysfs outputs of the actuators the hardware file enables (each component's `outputs`, registry.ts): PWM
 * channels first, the peltier's first of all, then the GPIO lines (the peltier's direction line, relays).
 */
export async function knownOutputs(file: HardwareFile, paths: LinuxPaths): Promise<GuardedOutput[]> {
  const all = file as Record<string, unknown>;
  const enabled = file.init_components as Record<string, boolean>;
  const components = REGISTRY.filter((c) => enabled[c.name] && c.outputs);
  const outputs: GuardedOutput[] = [];
  for (const c of [...components.filter((c) => c.safeFirst), ...components.filter((c) => !c.safeFirst)]) {
    const config = Object.fromEntries(Object.keys(c.config).map((k) => [k, all[k]]));
    outputs.push(...((await c.outputs?.(config as never, paths)) ?? []));
  }
  return [...outputs.filter((o) => o.kind === 'pwm'), ...outputs.filter((o) => o.kind !== 'pwm')];
}

/** Writes the list atomically (a node killed mid-write leaves the previous list whole). */
export function saveKnownOutputs(dataDir: string, outputs: GuardedOutput[]): void {
  const path = outputsFile(dataDir);
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify({ written_at: new Date().toISOString(), outputs }, null, 2)}\n`);
  renameSync(tmp, path);
}

/**
 * The first step of a start, before the environment or the hardware file is read (either may be invalid): every
 * output the last run knew goes off. A node killed with its heater on, whose supervisor could not act, is thus made
 * safe by the next start even when that start fails. Answers what it did, or null when there is no list.
 */
export function turnOffLastKnownOutputs(dataDir: string): (OffReport & { file: string }) | null {
  const file = outputsFile(dataDir);
  let outputs: GuardedOutput[];
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { outputs?: unknown };
    if (!Array.isArray(parsed.outputs)) return null;
    outputs = parsed.outputs.filter(
      (o): o is GuardedOutput =>
        typeof o === 'object' &&
        o !== null &&
        typeof (o as GuardedOutput).path === 'string' &&
        ((o as GuardedOutput).kind === 'pwm' || (o as GuardedOutput).kind === 'gpio'),
    );
  } catch {
    return null;
  }
  return { file, ...turnOutputsOff(outputs) };
}

/** The heartbeat period for a bound: several beats fit in it, so one late timer does not trip the supervisor. */
export const heartbeatIntervalMs = (timeoutMs: number) => Math.max(50, Math.min(500, Math.floor(timeoutMs / 6)));

export interface SupervisorOptions {
  outputs: GuardedOutput[];
  /** No heartbeat for this long and the supervisor acts. */
  timeoutMs: number;
  /** The hardware watchdog to arm (/dev/watchdog), or null. */
  watchdogDevice: string | null;
  pidFile: string | null;
  log: HardwareLog;
  /** The supervisor ended while the node runs: it has turned the outputs off (or was killed). */
  onLost: (why: string) => void;
}

/** The running supervisor: started in a session of its own, fed a heartbeat from this event loop. */
export class OutputSupervisor {
  private stopping = false;
  private readonly exited: Promise<void>;
  private readonly timer: NodeJS.Timeout;

  private constructor(
    private readonly child: ChildProcess,
    opts: SupervisorOptions,
  ) {
    const stdin = child.stdin as NonNullable<ChildProcess['stdin']>;
    // A supervisor gone makes writes fail with EPIPE: its exit is reported below, not as a crash of the node.
    stdin.on('error', () => {});
    this.exited = new Promise((done) => {
      child.once('exit', (code, signal) => {
        clearInterval(this.timer);
        done();
        if (this.stopping) return;
        const why = `the output supervisor (pid ${child.pid}) exited (${signal ?? `code ${code}`})`;
        opts.log.error({ code, signal }, why);
        opts.onLost(why);
      });
      child.once('error', (err) => {
        clearInterval(this.timer);
        done();
        opts.log.error({ err: err.message }, `the output supervisor could not start: ${err.message}`);
      });
    });
    const config = {
      outputs: opts.outputs,
      timeout_ms: opts.timeoutMs,
      watchdog_device: opts.watchdogDevice,
      pid_file: opts.pidFile,
    };
    stdin.write(`${JSON.stringify(config)}\n`);
    this.timer = setInterval(() => stdin.write('h\n'), heartbeatIntervalMs(opts.timeoutMs));
    // Neither the beat nor the child keeps a node alive that has nothing else to do.
    this.timer.unref();
    child.unref();
    (stdin as unknown as { unref?: () => void }).unref?.();
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  static start(opts: SupervisorOptions): OutputSupervisor {
    // detached: setsid, so a signal to the node's process group (a terminal's Ctrl-C, kill -9 -<pgid>) does not
    // reach it. stdout unused; stderr shared with the node, so its lines land in the node's log.
    if (opts.pidFile) mkdirSync(dirname(opts.pidFile), { recursive: true });
    // An empty environment: nothing of the node's (NODE_OPTIONS, a loader) reaches the supervisor.
    const child = spawn(process.execPath, ['--max-old-space-size=32', SUPERVISOR_SCRIPT], {
      detached: true,
      stdio: ['pipe', 'ignore', 'inherit'],
      env: {},
    });
    const supervisor = new OutputSupervisor(child, opts);
    opts.log.info(
      { pid: child.pid, outputs: opts.outputs.map((o) => `${o.component} ${o.path}`), timeout_ms: opts.timeoutMs },
      `output supervisor started (pid ${child.pid}): it turns ${opts.outputs.length} outputs off if the node dies or stops beating for ${opts.timeoutMs} ms`,
    );
    return supervisor;
  }

  /** After the node's own safe stop: the supervisor exits without acting. Bounded; never throws. */
  async stop(timeoutMs = 2000): Promise<void> {
    if (this.stopping) return this.exited;
    this.stopping = true;
    clearInterval(this.timer);
    this.child.stdin?.end('stop\n');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.exited, new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
  }
}
