// The lifecycle of experiment runs on this node: one at a time, state on disk at every change, logs streamed to
// output/container_logs.txt, a hardware-only API open exactly while the script runs, limits on duration and
// output, the hardware safe state at every end, and reconciliation with what still runs after a node restart.
import { createHash, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { appendFile, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ApiError,
  GUIDE_CSV_COLUMNS,
  MAX_SCRIPT_BYTES,
  type NodeStartRequest,
  type ProgramContext,
  type ProgramStatus,
  programEnd,
  RUN_LIVE_STATES,
  type RunRecord,
  type RunState,
  readingsFrom,
  validateProgram,
} from '@bioreactor/api';
import type {
  ExperimentRunner,
  HardwareEndpoint,
  RunExit,
  RunHandle,
  RunnerInfoBody,
  RunSpec,
} from '../runner/runner.js';
import { formatBytes, freeBytes, type StorageReport } from './disk.js';
import { failureMessage, findTraceback } from './failure-summary.js';
import { lastLines, readTail } from './files.js';
import {
  type ActuatorCommand,
  type ExperimentHardware,
  type HardwareGateway,
  type OpenHardwareGateway,
  SOCKET_NAME,
} from './hardware-gateway.js';
import { type Preflight, requestedScale, writePreflight } from './preflight.js';
import { lastSetpoints, RunActuatorLog, readRunActuatorLog } from './run-actuator-log.js';
import { lastLogTime, RunLog, readLogTail } from './run-log.js';
import { DEFAULT_OUTPUT_FILES, type ExperimentStore, type RunLimits, type StoredRun } from './store.js';

export interface ManagerLogger {
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
}

/** What the lifecycle needs of the node's program executor (programs/executor.ts). */
export interface NodePrograms {
  readonly running: boolean;
  /** The actuators the running program drives (actuatorKey names); none when no program runs. */
  drivenActuators(): string[];
  status(): ProgramStatus;
  context(): ProgramContext;
  start(doc: unknown, experimentId: string): Promise<ProgramStatus>;
  stop(): Promise<unknown>;
  on(event: 'started', listener: (status: ProgramStatus) => void): unknown;
  on(event: 'ended', listener: (end: { experiment_id: string | null; reason: string }) => void): unknown;
}

/** A program run's rows of experiment_data.csv: this often unless the start asks otherwise (sample_interval_s). */
const PROGRAM_SAMPLE_INTERVAL_S = 60;

/** A program run's place of user_script.py: no script ran. */
const PROGRAM_RUN_SCRIPT = '# This run is a program the node ran itself (output/program.json); no script ran.\n';

/** What the node writes into a program run's output folder. */
const PROGRAM_FILE = 'program.json';
const PROGRAM_CSV = 'experiment_data.csv';

/** A program that ends at its own duration ends the run before the run's limit does (timers are not exact). */
const PROGRAM_END_GRACE_MS = 5_000;

/** A program run's limit on a twin that fell behind is looked at again at most this often (wall ms). */
const TWIN_LIMIT_RECHECK_MS = 100;

/** One CSV cell as bioreactor_client's data.py writes it: empty for none, lists as compact JSON, quoted if needed. */
function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** An instant as data.py's rows carry it: ISO 8601 in UTC with microseconds and the offset. */
export function csvTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '000+00:00');
}

export interface ExperimentManagerOptions {
  store: ExperimentStore;
  runner: ExperimentRunner;
  openGateway: OpenHardwareGateway;
  hardware?: ExperimentHardware | undefined;
  dataDir: string;
  nodeVersion: string;
  hardwareMode: string;
  limits: RunLimits;
  /** Default and largest max_duration_s a start may ask for. */
  maxDurationS: number;
  /** Free bytes DATA_DIR keeps (BIOREACTOR_MIN_FREE_DISK): starts are refused below it, runs stopped below half. */
  minFreeBytes?: number;
  stopGraceMs: number;
  /** How often the output folder's size is checked against its cap. */
  outputCheckMs?: number;
  /** How long past its grace period a stopped run may take to end before the node removes it by force. */
  stopEscalationMs?: number;
  log: ManagerLogger;
  now?: () => Date;
  /** Runs on the twin at accelerated time and their reports (preflight.ts); absent: no run may ask for time_scale. */
  preflight?: Preflight | undefined;
  /** The node's programs: a run's end leaves their actuators alone; one a run starts is on its record. */
  programs?: NodePrograms | undefined;
}

interface ActiveRun {
  id: string;
  record: StoredRun;
  handle?: RunHandle;
  gateway?: HardwareGateway;
  /** Why the node ended the run, when it did; never overwritten once set. */
  endReason?: 'stopped' | 'timed_out' | 'output_limit' | 'output_files' | 'disk_full';
  timers: NodeJS.Timeout[];
  detached: boolean;
  /** Set when finish() begins, so a forced end and the normal one never both record it. */
  finishing: boolean;
  /** What the run last wrote to stderr (its traceback, if it failed with one), once its output has ended. */
  stderrTail?: string;
  /** The newest output of the run, in memory for live followers (at most RECENT_LOG_CHARS). */
  recentLog: string[];
  recentLogChars: number;
  /** The run's own actuator log, open while the run is live. */
  actuatorLog?: { log: RunActuatorLog; unsubscribe: () => void };
  /** A program run: the rows the node writes (one at a time). */
  csvWriting?: Promise<void>;
  /** Settles when the run's end is recorded. */
  done: Promise<void>;
  settle: () => void;
}

/** A run the node has taken on: nothing started, nothing timed, its end not yet recorded. */
function newActiveRun(id: string, record: StoredRun, parts: Pick<ActiveRun, 'handle' | 'gateway'> = {}): ActiveRun {
  let settle = () => {};
  const done = new Promise<void>((resolve) => {
    settle = resolve;
  });
  return {
    id,
    record,
    ...parts,
    timers: [],
    detached: false,
    finishing: false,
    recentLog: [],
    recentLogChars: 0,
    done,
    settle,
  };
}

/** The output check takes at most one part in this many of the node's time (see checkOutput). */
const OUTPUT_CHECK_SHARE = 20;

/** Characters of a live run's newest output kept in memory, from which a follower of its log starts. */
const RECENT_LOG_CHARS = 256 * 1024;

/** How often an end that could not be written (a full disk) is tried again. */
const UNRECORDED_RETRY_MS = 5_000;

/** How long the output may take to drain after the process ended. */
const OUTPUT_DRAIN_MS = 10_000;

/** Default of stopEscalationMs. */
const STOP_ESCALATION_MS = 10_000;

/** How much of a re-attached run's kept log is compared with the engine's log to find where it goes on. */
const OVERLAP_SEARCH_BYTES = 64 * 1024;

/** How far back from the end of a failed run's log its traceback is looked for. */
const FAILURE_SEARCH_BYTES = 256 * 1024;

/** Characters of the log kept as the error message of a failed run (its end, where tracebacks are). */
const ERROR_TAIL_CHARS = 500;

/** The longest delay setTimeout takes (2^31 - 1 ms, about 24.8 days); a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Calls `fn` once `ms` have passed on the monotonic clock (performance.now, which a wall-clock step does not move),
 * however long that is: a run of 30 days or more is timed in steps no timer overflows. Each step's timer is pushed
 * onto `timers`, so clearing them all cancels it.
 */
export function afterMonotonic(ms: number, timers: NodeJS.Timeout[], fn: () => void): void {
  const deadline = performance.now() + Math.max(0, ms);
  const step = () => {
    const left = deadline - performance.now();
    if (left <= 0) fn();
    else timers.push(setTimeout(step, Math.min(left, MAX_TIMER_MS)));
  };
  timers.push(setTimeout(step, Math.min(Math.max(0, ms), MAX_TIMER_MS)));
}

/** A wall clock that moved more than this against the monotonic one since a run started is logged at re-attach. */
const CLOCK_STEP_LOG_MS = 5_000;

let cachedBootId: Promise<string | null> | undefined;
/** This boot's id (Linux /proc/sys/kernel/random/boot_id): CLOCK_MONOTONIC values compare only within one boot. */
export function bootId(): Promise<string | null> {
  cachedBootId ??= readFile('/proc/sys/kernel/random/boot_id', 'utf8').then(
    (text) => text.trim() || null,
    () => null,
  );
  return cachedBootId;
}

/**
 * How long a run has been running: on the monotonic clock when it started on this boot (a wall-clock step of days
 * changes nothing), else by the wall clock (after a reboot the monotonic clock restarted). `clockStepMs` is how far
 * the wall clock moved against the monotonic one meanwhile (null when it cannot be told).
 */
export function runElapsedMs(
  run: Pick<StoredRun, 'start_time' | 'created_time' | 'start_monotonic'>,
  nowWallMs: number,
  nowMonotonicNs: bigint,
  currentBootId: string | null,
): { ms: number; clockStepMs: number | null } {
  const wallMs = nowWallMs - Date.parse(run.start_time ?? run.created_time);
  const mono = run.start_monotonic;
  if (mono && currentBootId && mono.boot_id === currentBootId) {
    const ms = Number((nowMonotonicNs - BigInt(mono.ns)) / 1_000_000n);
    return { ms, clockStepMs: wallMs - ms };
  }
  return { ms: Math.max(0, wallMs), clockStepMs: null };
}

/** 536870912 → "512 MB": limits as the operator set them (BIOREACTOR_EXPERIMENT_MEMORY=512m). */
export function formatMiB(bytes: number): string {
  const mib = bytes / 1048576;
  return `${Number.isInteger(mib) ? mib : mib.toFixed(1)} MB`;
}

export function publicRecord(run: StoredRun): RunRecord {
  return {
    experiment_id: run.experiment_id,
    status: run.status,
    start_time: run.start_time,
    end_time: run.end_time,
    exit_code: run.exit_code,
    error_message: run.error_message,
    oom_killed: run.oom_killed,
    max_duration_s: run.max_duration_s,
    runner: run.runner,
    image: run.image,
    image_digest: run.image_digest,
    script_sha256: run.script_sha256,
  };
}

export function isLive(status: RunState): boolean {
  return RUN_LIVE_STATES.includes(status);
}

/** A piece of a live run's output, at its offset in the run's whole output (for followers of the log). */
export interface RunLogChunk {
  experiment_id: string;
  offset: number;
  text: string;
}

export class ExperimentManager extends EventEmitter<{ run: [RunRecord]; log: [RunLogChunk] }> {
  private active: ActiveRun | null = null;
  /** Ends that could not be written (a full or failing disk): served from here and retried until they are. */
  private readonly unrecorded = new Map<string, { record: StoredRun; handle: RunHandle | undefined }>();
  private retryTimer: NodeJS.Timeout | undefined;
  private lastFreeBytes: number | null = null;
  private readonly now: () => Date;

  constructor(private readonly opts: ExperimentManagerOptions) {
    super();
    // Every SSE follower is a listener; there is no leak to warn about.
    this.setMaxListeners(0);
    this.now = opts.now ?? (() => new Date());
    opts.programs?.on('started', (status) => void this.programStarted(status));
    opts.programs?.on('ended', (end) => void this.programEnded(end));
  }

  /** A program run's program ended (its duration, a stop, DELETE /api/v3/programs/current): so does the run. */
  private async programEnded(end: { experiment_id: string | null; reason: string }): Promise<void> {
    const active = this.active;
    if (!active?.record.program_run || end.experiment_id !== active.id) return;
    // Ended from outside the run's own stop (the program's routes): the run was stopped.
    if (end.reason === 'stopped') active.endReason ??= 'stopped';
    await active.csvWriting?.catch(() => undefined);
    await this.finish(active, undefined, { exitCode: active.endReason ? null : 0, oomKilled: false });
  }

  /** A program the live run started (through its hardware API): in the run's actuator log and its manifest. */
  private async programStarted(status: ProgramStatus): Promise<void> {
    const active = this.active;
    if (!active || status.experiment_id !== active.id || status.name === null || status.started_at === null) return;
    const started = { name: status.name, started_at: status.started_at };
    active.record.programs = [...(active.record.programs ?? []), started];
    try {
      active.actuatorLog?.log.append({
        time: this.now().toISOString(),
        source: `experiment:${active.id}`,
        component: 'program',
        values: { ...started, event: 'started' },
      });
      await this.opts.store.save(active.record);
    } catch (err) {
      this.opts.log.error({ err, experiment_id: active.id }, 'could not record the program the run started');
    }
  }

  get runner(): ExperimentRunner {
    return this.opts.runner;
  }
  runnerInfo(): RunnerInfoBody {
    return this.opts.runner.info();
  }
  activeExperimentId(): string | null {
    return this.active?.id ?? null;
  }

  /** Where the run's hardware socket lives: short, because Unix socket paths are limited to 107 bytes. */
  socketDir(id: string): string {
    return join(this.opts.dataDir, 'run', createHash('sha256').update(id).digest('hex').slice(0, 16));
  }

  private spec(id: string, hardware: HardwareEndpoint, run?: StoredRun): RunSpec {
    const { limits } = this.opts;
    return {
      ...(run?.accelerated ? { time: run.accelerated } : {}),
      experimentId: id,
      scriptPath: this.opts.store.scriptPath(id),
      outputDir: this.opts.store.outputDir(id),
      hardware,
      limits: {
        memoryBytes: limits.memory_bytes,
        cpus: limits.cpus,
        pids: limits.pids,
        fileBytes: limits.output_bytes,
        logBytes: limits.log_bytes,
      },
    };
  }

  private openGateway(id: string): Promise<HardwareGateway> {
    return this.opts.openGateway(
      id,
      this.opts.runner.endpoint === 'unix' ? { kind: 'unix', socketDir: this.socketDir(id) } : { kind: 'tcp' },
    );
  }

  private async publish(run: StoredRun): Promise<void> {
    await this.opts.store.save(run);
    this.emit('run', publicRecord(run));
  }

  async get(id: string): Promise<StoredRun> {
    if (this.active?.id === id) return this.active.record;
    const unrecorded = this.unrecorded.get(id);
    if (unrecorded) return unrecorded.record;
    return this.opts.store.load(id);
  }

  async list(): Promise<StoredRun[]> {
    const runs = await this.opts.store.list();
    return runs.map((r) =>
      this.active?.id === r.experiment_id ? this.active.record : (this.unrecorded.get(r.experiment_id)?.record ?? r),
    );
  }

  async start(request: NodeStartRequest): Promise<StoredRun> {
    if (request.program !== undefined) return this.startProgram(request);
    const script = request.script_content;
    if (script === undefined)
      throw new ApiError(
        'VALIDATION_FAILED',
        'Give script_content (a Python script) or program (a program document, docs/programs.md)',
        [{ field: 'script_content', message: 'script_content or program is required' }],
      );
    const scriptSha = createHash('sha256').update(script).digest('hex');
    if (this.active) {
      // A retried start of the run already going (same id, same script) is answered, not refused.
      if (this.active.id === request.experiment_id && this.active.record.script_sha256 === scriptSha) {
        return this.active.record;
      }
      throw new ApiError(
        'NODE_BUSY',
        `Experiment ${this.active.id} is ${this.active.record.status} on this node; stop it or wait for it to end`,
      );
    }
    if (Buffer.byteLength(script, 'utf8') > MAX_SCRIPT_BYTES) {
      throw new ApiError('PAYLOAD_TOO_LARGE', `script_content is larger than ${MAX_SCRIPT_BYTES} bytes`);
    }
    const maxDuration = request.max_duration_s ?? this.opts.maxDurationS;
    if (maxDuration > this.opts.maxDurationS) {
      throw new ApiError(
        'VALIDATION_FAILED',
        `max_duration_s ${maxDuration} is above this node's limit of ${this.opts.maxDurationS} s (BIOREACTOR_EXPERIMENT_MAX_DURATION_S)`,
      );
    }
    const timeScale = requestedScale(this.opts.preflight, request.time_scale);
    await this.assertRoomToStart();
    const id = request.experiment_id ?? randomUUID();
    // Claimed before the first await, so two starts at once can never both run.
    const created = this.now().toISOString();
    const active = newActiveRun(id, {
      ...this.startingRecord(id, maxDuration, scriptSha, created),
      runner: this.opts.runner.kind,
    });
    this.active = active;
    let wroteFiles = false;
    let opening: Promise<void> | undefined;
    try {
      if (await this.opts.store.exists(id)) {
        throw new ApiError(
          'INVALID_STATE',
          `Experiment ${id} already exists on this node; DELETE /api/experiments/${id} first or use another id`,
        );
      }
      let info = this.opts.runner.info();
      if (!info.available) info = await this.opts.runner.probe();
      if (!info.available) throw new ApiError('RUNNER_UNAVAILABLE', `Cannot run experiments: ${info.detail}`);
      const { image, digest, packages } = await this.opts.runner.image();
      active.record.image = image;
      active.record.image_digest = digest;
      active.record.context.image_packages = packages ?? null;
      active.record.context.hardware_config = this.opts.hardware?.hardwareConfig() ?? null;
      active.record.context.capabilities = this.opts.hardware?.capabilities() ?? null;
      if (this.opts.hardware?.counters) active.record.context.counters_at_start = this.opts.hardware.counters();
      wroteFiles = true;
      await this.opts.store.create(id, script);
      this.openActuatorLog(active);
      if (timeScale !== null && this.opts.preflight)
        active.record.accelerated = this.opts.preflight.begin(id, timeScale);
      await this.publish(active.record);
      if (this.opts.runner.endpoint === 'unix') {
        // The socket's path is known in advance: the hardware API opens while the container is being created,
        // and the script starts only once it listens.
        opening = this.openGateway(id).then((gateway) => {
          active.gateway = gateway;
        });
        opening.catch(() => undefined);
        const socketDir = this.socketDir(id);
        active.handle = await this.opts.runner.start({
          ...this.spec(id, { kind: 'unix', socketDir, socketPath: join(socketDir, SOCKET_NAME) }, active.record),
          ready: opening,
        });
      } else {
        active.gateway = await this.openGateway(id);
        active.handle = await this.opts.runner.start(this.spec(id, active.gateway.endpoint, active.record));
      }
    } catch (err) {
      await opening?.catch(() => undefined);
      await active.gateway?.close().catch(() => undefined);
      this.closeActuatorLog(active);
      this.opts.preflight?.cancel(id);
      if (wroteFiles) await this.opts.store.remove(id).catch(() => undefined);
      this.active = null;
      active.settle();
      if (err instanceof ApiError) throw err;
      if ((err as NodeJS.ErrnoException).code === 'ENOSPC') {
        throw new ApiError('INSUFFICIENT_STORAGE', `Experiment ${id} could not start: the node's disk is full`);
      }
      this.opts.log.error({ err, experiment_id: id }, 'experiment could not start');
      throw new ApiError('RUNNER_UNAVAILABLE', `Experiment ${id} could not start: ${(err as Error).message}`);
    }
    active.record.status = 'running';
    active.record.start_time = this.now().toISOString();
    const boot = await bootId();
    active.record.start_monotonic = boot ? { ns: String(process.hrtime.bigint()), boot_id: boot } : null;
    active.record.runner_ref = active.handle.ref;
    await this.publish(active.record);
    this.opts.log.info(
      { experiment_id: id, runner: this.opts.runner.kind, ref: active.handle.ref },
      'experiment started',
    );
    // On the twin at accelerated time the run's limit counts the twin's time (watch).
    this.watch(active, active.handle, maxDuration * 1000);
    // A stop that arrived while the container was being created is honoured now.
    if (active.endReason) this.terminate(active, active.handle, 0);
    return active.record;
  }

  /**
   * A program run: no container; the node's program executor runs the program as the run (its limits.duration is
   * the run's), a stop cancels it, and its end ends the run. The output folder gets program.json, and a row of the
   * guide's CSV columns every sample_interval_s in experiment_data.csv.
   */
  private async startProgram(request: NodeStartRequest): Promise<StoredRun> {
    const programs = this.opts.programs;
    if (!programs) throw new ApiError('RUNNER_UNAVAILABLE', 'This node has no hardware to run a program on');
    if (request.script_content !== undefined)
      throw new ApiError('VALIDATION_FAILED', 'Give either script_content or program, not both', [
        { field: 'program', message: 'a run is a script or a program' },
      ]);
    const program = validateProgram(request.program, programs.context());
    const text = `${JSON.stringify(request.program, null, 2)}\n`;
    const sha = createHash('sha256').update(text).digest('hex');
    if (this.active) {
      if (this.active.id === request.experiment_id && this.active.record.script_sha256 === sha)
        return this.active.record;
      throw new ApiError(
        'NODE_BUSY',
        `Experiment ${this.active.id} is ${this.active.record.status} on this node; stop it or wait for it to end`,
      );
    }
    if (programs.running)
      throw new ApiError(
        'INVALID_STATE',
        `Program "${programs.status().name}" is running on this node: stop it first (DELETE /api/v3/programs/current)`,
      );
    const end = programEnd(program);
    const maxDuration = end === null ? (request.max_duration_s ?? this.opts.maxDurationS) : Math.ceil(end);
    if (maxDuration > this.opts.maxDurationS)
      throw new ApiError(
        'VALIDATION_FAILED',
        end === null
          ? `max_duration_s ${maxDuration} is above this node's limit of ${this.opts.maxDurationS} s (BIOREACTOR_EXPERIMENT_MAX_DURATION_S)`
          : `The program lasts ${maxDuration} s (limits.duration), above this node's limit of ${this.opts.maxDurationS} s (BIOREACTOR_EXPERIMENT_MAX_DURATION_S): shorten it`,
        [{ field: end === null ? 'max_duration_s' : 'program.limits.duration', message: 'above the node limit' }],
      );
    const timeScale = requestedScale(this.opts.preflight, request.time_scale);
    await this.assertRoomToStart();
    const id = request.experiment_id ?? randomUUID();
    const base = this.startingRecord(id, maxDuration, sha, this.now().toISOString());
    const active = newActiveRun(id, {
      ...base,
      runner: 'program',
      program_run: {
        name: program.name,
        sample_interval_s: request.sample_interval_s ?? PROGRAM_SAMPLE_INTERVAL_S,
        ends: end !== null,
      },
      // A program run has no container to report them later: the node's own hardware is what it drives.
      context: {
        ...base.context,
        hardware_config: this.opts.hardware?.hardwareConfig() ?? null,
        capabilities: this.opts.hardware?.capabilities() ?? null,
      },
    });
    this.active = active;
    let wroteFiles = false;
    try {
      if (await this.opts.store.exists(id))
        throw new ApiError(
          'INVALID_STATE',
          `Experiment ${id} already exists on this node; DELETE /api/experiments/${id} first or use another id`,
        );
      if (this.opts.hardware?.counters) active.record.context.counters_at_start = this.opts.hardware.counters();
      wroteFiles = true;
      await this.opts.store.create(id, PROGRAM_RUN_SCRIPT);
      await writeFile(join(this.opts.store.outputDir(id), PROGRAM_FILE), text);
      this.openActuatorLog(active);
      if (timeScale !== null && this.opts.preflight)
        active.record.accelerated = this.opts.preflight.begin(id, timeScale);
      await this.publish(active.record);
      await programs.start(request.program, id);
    } catch (err) {
      this.closeActuatorLog(active);
      this.opts.preflight?.cancel(id);
      if (wroteFiles) await this.opts.store.remove(id).catch(() => undefined);
      this.active = null;
      active.settle();
      if (err instanceof ApiError) throw err;
      this.opts.log.error({ err, experiment_id: id }, 'program run could not start');
      throw new ApiError('RUNNER_UNAVAILABLE', `Experiment ${id} could not start: ${(err as Error).message}`);
    }
    active.record.status = 'running';
    active.record.start_time = this.now().toISOString();
    const boot = await bootId();
    active.record.start_monotonic = boot ? { ns: String(process.hrtime.bigint()), boot_id: boot } : null;
    await this.publish(active.record);
    this.opts.log.info({ experiment_id: id, program: program.name }, 'program run started');
    this.watchProgram(active, maxDuration * 1000);
    if (active.endReason) void this.opts.programs?.stop().catch(() => undefined);
    return active.record;
  }

  /** A program run's limit and rows; its end comes from the program's (programEnded). */
  private watchProgram(active: ActiveRun, remainingMs: number): void {
    const run = active.record.program_run;
    if (!run) return;
    const scale = active.record.accelerated?.time_scale ?? 1;
    const timedOut = () => {
      active.endReason ??= 'timed_out';
      this.opts.log.info({ experiment_id: active.id }, 'program run reached its maximum duration');
      void this.opts.programs?.stop().catch(() => undefined);
    };
    const twin = active.record.accelerated ? this.opts.hardware?.clock : undefined;
    // A program with an end ends the run itself; the limit is there for one that never ends.
    if (!twin) afterMonotonic(remainingMs + (run.ends ? PROGRAM_END_GRACE_MS : 0), active.timers, timedOut);
    else {
      // On the twin the limit counts the twin's time, as the program does: the paced clock falls behind the wall
      // clock when the machine cannot keep up, and a wall-clock limit would then end the run before its program.
      const deadline = twin.now() + remainingMs + (run.ends ? PROGRAM_END_GRACE_MS * scale : 0);
      const check = () => {
        const left = deadline - twin.now();
        if (left <= 0) timedOut();
        else afterMonotonic(Math.max(left / scale, TWIN_LIMIT_RECHECK_MS), active.timers, check);
      };
      check();
    }
    const every = (run.sample_interval_s * 1000) / scale;
    const tick = () => {
      if (active.finishing || active.detached) return;
      active.csvWriting = this.writeProgramRow(active);
      active.timers.push(setTimeout(tick, every));
    };
    tick();
  }

  /** One row of the guide's columns (timestamp, co2_ppm, temperature, od_voltages, ...) from the current states. */
  private async writeProgramRow(active: ActiveRun): Promise<void> {
    const hardware = this.opts.hardware;
    const states = ((hardware?.allStates?.() as { components?: Record<string, unknown> } | undefined)?.components ??
      {}) as Record<string, unknown>;
    const readings = readingsFrom(states) as Record<string, unknown>;
    const at = hardware?.clock?.now() ?? Date.now();
    const row = GUIDE_CSV_COLUMNS.map((c) => (c === 'timestamp' ? csvTimestamp(at) : csvCell(readings[c]))).join(',');
    const path = join(this.opts.store.outputDir(active.id), PROGRAM_CSV);
    try {
      await active.csvWriting;
    } catch {
      // The previous row's failure was logged.
    }
    try {
      const header = await readFile(path).then(
        (b) => b.length === 0,
        () => true,
      );
      await appendFile(path, `${header ? `${GUIDE_CSV_COLUMNS.join(',')}\n` : ''}${row}\n`);
    } catch (err) {
      this.opts.log.error({ err, experiment_id: active.id }, "could not write the program run's CSV row");
    }
  }

  /** Follows a started or re-attached run to its end: log streaming, duration and output limits, finalisation. */
  /** `remainingMs` of the run's time: the twin's at accelerated time, else the wall clock's. */
  private watch(active: ActiveRun, handle: RunHandle, remainingMs: number): void {
    const { store } = this.opts;
    const timedOut = () => {
      active.endReason ??= 'timed_out';
      this.opts.log.info({ experiment_id: active.id }, 'experiment reached its maximum duration');
      this.terminate(active, handle, this.opts.stopGraceMs);
    };
    const twin = active.record.accelerated ? this.opts.hardware?.clock : undefined;
    if (!twin) afterMonotonic(remainingMs, active.timers, timedOut);
    else {
      // The script follows the twin's clock (bioreactor_client.accelerated), which falls behind the wall clock when
      // the machine cannot keep up: a limit on the wall clock would end the script before its time.
      const scale = active.record.accelerated?.time_scale ?? 1;
      const deadline = twin.now() + remainingMs;
      const check = () => {
        const left = deadline - twin.now();
        if (left <= 0) timedOut();
        else afterMonotonic(Math.max(left / scale, TWIN_LIMIT_RECHECK_MS), active.timers, check);
      };
      check();
    }
    const caps = {
      bytes: this.opts.limits.output_bytes,
      entries: this.opts.limits.output_files ?? DEFAULT_OUTPUT_FILES,
    };
    const checkOutput = async () => {
      if (active.detached || !this.isActive(active)) return;
      const began = performance.now();
      const usage = await store.outputUsage(active.id, caps).catch(() => ({ bytes: 0, entries: 0 }));
      const overBytes = usage.bytes > caps.bytes;
      const overEntries = usage.entries > caps.entries;
      const free = await this.measureFree();
      const diskFull = free !== null && free < (this.opts.minFreeBytes ?? 0) / 2;
      if ((overBytes || overEntries || diskFull) && !active.endReason) {
        active.endReason = diskFull ? 'disk_full' : overBytes ? 'output_limit' : 'output_files';
        this.opts.log.warn({ experiment_id: active.id, ...usage }, 'experiment output is over its limit; stopping it');
        this.terminate(active, handle, 0);
        return;
      }
      // A walk that takes long (many files) is repeated less often: the check costs at most 1/OUTPUT_CHECK_SHARE of
      // the node's time whatever the script writes, and every walk stops as soon as a cap is passed.
      const took = performance.now() - began;
      const every = Math.max(this.opts.outputCheckMs ?? 1000, took * OUTPUT_CHECK_SHARE);
      active.timers.push(setTimeout(() => void checkOutput(), every));
    };
    void checkOutput();

    void (async () => {
      let exit: RunExit;
      try {
        const log = await RunLog.open(store.logPath(active.id), active.record.limits.log_bytes, (text, offset) => {
          active.recentLog.push(text);
          active.recentLogChars += text.length;
          while (active.recentLogChars > RECENT_LOG_CHARS && active.recentLog.length > 1) {
            active.recentLogChars -= active.recentLog.shift()?.length ?? 0;
          }
          this.emit('log', { experiment_id: active.id, offset, text });
        });
        const pump = (async () => {
          try {
            for await (const chunk of handle.output) {
              if (active.detached) break;
              await log.write(chunk);
            }
          } catch (err) {
            if (!active.detached) this.opts.log.warn({ err, experiment_id: active.id }, 'log stream broke');
          }
          // A detached run's wait() may not resolve while this node runs: the log is closed here instead.
          if (active.detached) await log.close(false);
        })();
        exit = await handle.wait();
        if (active.detached) return;
        // The output ends with the process; a stream that hangs past that must not hold the run open.
        let drainTimer: NodeJS.Timeout | undefined;
        const drained = await Promise.race([
          pump.then(() => true),
          new Promise<boolean>((resolve) => {
            drainTimer = setTimeout(() => resolve(false), OUTPUT_DRAIN_MS);
          }),
        ]);
        clearTimeout(drainTimer);
        if (!drained) {
          handle.detach?.();
          this.opts.log.warn({ experiment_id: active.id }, 'the output stream did not end with the run');
        }
        await log.close(true);
        active.stderrTail = log.stderrText();
      } catch (err) {
        exit = { exitCode: null, oomKilled: false, error: (err as Error).message };
      }
      if (active.detached) return;
      await this.finish(active, handle, exit);
    })();
  }

  private isActive(active: ActiveRun): boolean {
    return this.active === active;
  }

  /**
   * Ends a run: SIGTERM, SIGKILL after the grace period. A run that is still there well after that (an engine that
   * does not complete the stop, a container that outlives its SIGKILL) is removed by force, and if even that does
   * not end it, its end is recorded without an exit code, so the node and the queue behind it move on.
   */
  private terminate(active: ActiveRun, handle: RunHandle, graceMs: number): void {
    if (active.finishing) return;
    void handle.stop(graceMs).catch((err: unknown) => {
      this.opts.log.warn({ err, experiment_id: active.id }, 'the runner could not stop the run');
    });
    const escalationMs = this.opts.stopEscalationMs ?? STOP_ESCALATION_MS;
    active.timers.push(
      setTimeout(() => {
        if (active.finishing || active.detached) return;
        this.opts.log.error({ experiment_id: active.id }, 'the run did not end after its stop; removing it by force');
        void handle.release().catch((err: unknown) => {
          this.opts.log.error({ err, experiment_id: active.id }, 'could not remove the run by force');
        });
        active.timers.push(
          setTimeout(() => {
            if (active.finishing || active.detached) return;
            void this.finish(active, handle, {
              exitCode: null,
              oomKilled: false,
              error: 'The run did not end when stopped and was removed by force',
            });
          }, escalationMs),
        );
      }, graceMs + escalationMs),
    );
  }

  private async finish(active: ActiveRun, handle: RunHandle | undefined, exit: RunExit): Promise<void> {
    if (active.finishing) return;
    active.finishing = true;
    for (const timer of active.timers) clearTimeout(timer);
    const record = active.record;
    // Access ends first: from here on the script (or what is left of it) cannot move an actuator.
    await active.gateway?.close().catch((err: unknown) => this.opts.log.warn({ err }, 'hardware gateway close'));
    let status: RunState;
    let error: string | null = null;
    const code = exit.exitCode;
    if (active.endReason === 'stopped') status = 'stopped';
    else if (active.endReason === 'timed_out') {
      status = 'timed_out';
      error = `Stopped after its maximum duration of ${record.max_duration_s} s`;
    } else if (active.endReason === 'output_limit') {
      status = 'failed';
      error = `Stopped: the output folder grew past its limit of ${record.limits.output_bytes} bytes`;
    } else if (active.endReason === 'disk_full') {
      status = 'failed';
      error = `Stopped: the node's disk had ${formatBytes(this.lastFreeBytes ?? 0)} free, below half of BIOREACTOR_MIN_FREE_DISK (${formatBytes(this.opts.minFreeBytes ?? 0)}), so the run could no longer be recorded safely`;
    } else if (active.endReason === 'output_files') {
      status = 'failed';
      error = `Stopped: the output folder grew past its limit of ${record.limits.output_files ?? DEFAULT_OUTPUT_FILES} files and folders (BIOREACTOR_EXPERIMENT_OUTPUT_FILES)`;
    } else if (exit.oomKilled) {
      status = 'failed';
      error = `Out of memory: the script used more than its ${formatMiB(record.limits.memory_bytes)} limit and was killed`;
    } else if (code === 0) status = 'completed';
    else if (code === null) {
      status = 'failed';
      error = exit.error ?? 'The run ended without an exit code';
    } else {
      status = 'failed';
      // stderr first: a flood on stdout may have pushed the traceback far from the end of the combined log.
      const stderr = active.stderrTail ?? '';
      const tail = findTraceback(stderr)
        ? stderr
        : await this.logTail(active.id, record.limits.log_bytes, FAILURE_SEARCH_BYTES);
      error = failureMessage(code, tail, ERROR_TAIL_CHARS);
    }
    // A run the node ended and then had to remove by force says so after why it was ended.
    if (active.endReason && exit.error) error = error ? `${error}; ${exit.error}` : exit.error;
    record.status = status;
    record.exit_code = code;
    record.oom_killed = exit.oomKilled;
    record.error_message = error;
    record.end_time = this.now().toISOString();
    record.runner_ref = null;
    const kept = await this.safeState(`experiment ${active.id} ${status}`);
    await this.noteKept(active.id, kept);
    if (this.opts.hardware?.counters) record.context.counters_at_end = this.opts.hardware.counters();
    // After the safe state, so that the end of the run is in its actuator log too.
    this.closeActuatorLog(active);
    await this.writePreflight(record);
    try {
      await this.publish(record);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        // A full or failing disk: the end is served from memory, retried, and reported; the container is kept, so
        // that a node restart before the retry succeeds still finds how the run ended.
        this.unrecorded.set(active.id, { record, handle });
        this.emit('run', publicRecord(record));
        this.opts.log.error(
          { err, experiment_id: active.id, status },
          `could not write the end of experiment ${active.id}; retrying every ${UNRECORDED_RETRY_MS / 1000} s`,
        );
        this.scheduleRetry();
        if (this.active === active) this.active = null;
        active.settle();
        return;
      }
      // The folder was deleted under a run being removed; the end still counts.
      this.opts.log.warn({ err, experiment_id: active.id }, 'could not record the end of a run');
    }
    this.opts.log.info({ experiment_id: active.id, status, exit_code: code }, 'experiment ended');
    // The script has ended and its end is on record: the next run may start while the container is removed.
    if (this.active === active) this.active = null;
    await handle?.release().catch((err: unknown) => this.opts.log.warn({ err }, 'could not remove the run'));
    active.settle();
  }

  /** The last `lines` lines of a run's log. */
  async logLines(id: string, lines: number): Promise<string> {
    const run = await this.get(id);
    let window = 64 * 1024;
    for (;;) {
      const text = await this.logTail(id, run.limits.log_bytes, window);
      const tail = lastLines(text, lines);
      // A window that holds more than the lines asked for, or the whole log, is enough.
      if (tail.length < text.length || Buffer.byteLength(text) < window || window >= 64 * 1024 * 1024) return tail;
      window *= 4;
    }
  }

  /**
   * Follows a live run's log: its newest output (the last `lines` lines of what is kept in memory) at once, then
   * every chunk as it comes, with nothing missed or repeated between the two. Null when the run is not live here.
   */
  followLog(id: string, lines: number, onChunk: (text: string) => void): { recent: string; stop: () => void } | null {
    const active = this.active;
    if (!active || active.id !== id) return null;
    const recent = lastLines(active.recentLog.join(''), lines);
    const listener = (chunk: RunLogChunk) => {
      if (chunk.experiment_id === id) onChunk(chunk.text);
    };
    this.on('log', listener);
    return { recent, stop: () => this.off('log', listener) };
  }

  /** The last `maxBytes` of a run's log as text: the node's own log, or a run's from before it had one. */
  async logTail(id: string, capBytes: number, maxBytes: number): Promise<string> {
    const own = await readLogTail(this.opts.store.logPath(id), capBytes, maxBytes);
    if (own.length > 0 || (await this.opts.store.reservedNames(id)).size > 0) return own.toString('utf8');
    const legacy = await this.opts.store.openLog(id).catch(() => null);
    return readTail(legacy, maxBytes).finally(() => legacy?.close());
  }

  /** A new run's record as it starts, whatever runs it (a runner's script or the node's program executor). */
  private startingRecord(id: string, maxDurationS: number, sha: string, created: string) {
    return {
      experiment_id: id,
      status: 'starting' as const,
      start_time: null,
      end_time: null,
      exit_code: null,
      error_message: null,
      oom_killed: false,
      max_duration_s: maxDurationS,
      image: null,
      image_digest: null,
      script_sha256: sha,
      created_time: created,
      runner_ref: null,
      context: {
        node_version: this.opts.nodeVersion,
        hardware_mode: this.opts.hardwareMode,
        hardware_config: null,
        capabilities: null,
      },
      limits: this.opts.limits,
    };
  }

  /** Refuses a start while an end is unwritten or the disk is below BIOREACTOR_MIN_FREE_DISK. */
  private async assertRoomToStart(): Promise<void> {
    if (this.unrecorded.size > 0) {
      throw new ApiError(
        'INSUFFICIENT_STORAGE',
        `The node could not write the end of experiment ${[...this.unrecorded.keys()].join(', ')} to its disk; free space on the node (GET /api/status, storage) before starting another`,
      );
    }
    const min = this.opts.minFreeBytes ?? 0;
    const free = await this.measureFree();
    if (free !== null && free < min) {
      throw new ApiError(
        'INSUFFICIENT_STORAGE',
        `The node's disk has ${formatBytes(free)} free, below BIOREACTOR_MIN_FREE_DISK (${formatBytes(min)}): delete old runs (DELETE /api/experiments/{id}) or other files before starting`,
      );
    }
  }

  private async measureFree(): Promise<number | null> {
    this.lastFreeBytes = await freeBytes(this.opts.dataDir).catch(() => null);
    return this.lastFreeBytes;
  }

  /** The node's disk as /health and /api/status report it. */
  async storage(): Promise<StorageReport> {
    const min = this.opts.minFreeBytes ?? 0;
    const free = await this.measureFree();
    let problem: string | null = null;
    if (this.unrecorded.size > 0) {
      problem = `disk full: the end of experiment ${[...this.unrecorded.keys()].join(', ')} could not be written; retrying`;
    } else if (free !== null && free < min) {
      problem = `disk full: ${formatBytes(free)} free, below BIOREACTOR_MIN_FREE_DISK (${formatBytes(min)}); new runs are refused`;
    }
    return { free_bytes: free, min_free_bytes: min, problem };
  }

  private scheduleRetry(): void {
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.retryUnrecorded();
    }, UNRECORDED_RETRY_MS);
  }

  /** Writes the ends that could not be written; each written one lets its container go. */
  private async retryUnrecorded(): Promise<void> {
    for (const [id, { record, handle }] of this.unrecorded) {
      try {
        await this.opts.store.save(record);
      } catch {
        continue;
      }
      this.unrecorded.delete(id);
      this.opts.log.info({ experiment_id: id, status: record.status }, 'the end of the experiment is now written');
      await handle?.release().catch((err: unknown) => this.opts.log.warn({ err }, 'could not remove the run'));
    }
    if (this.unrecorded.size > 0) this.scheduleRetry();
  }

  /** An accelerated run's end: the twin back to its own rate, and preflight.json beside the run's other files. */
  private async writePreflight(record: StoredRun): Promise<void> {
    if (!record.accelerated || !this.opts.preflight) return;
    try {
      const report = this.opts.preflight.end(
        record,
        await readRunActuatorLog(this.opts.store.actuatorLogPath(record.experiment_id)),
      );
      if (report) writePreflight(this.opts.store.preflightPath(record.experiment_id), report);
    } catch (err) {
      this.opts.log.error({ err, experiment_id: record.experiment_id }, 'could not write the pre-flight report');
    }
  }

  /** Starts the run's own actuator log: every command the node carries out from now on, whoever asked. */
  private openActuatorLog(active: ActiveRun): void {
    const hardware = this.opts.hardware;
    if (!hardware?.onCommand) return;
    const log = new RunActuatorLog(this.opts.store.actuatorLogPath(active.id));
    const unsubscribe = hardware.onCommand((entry) => {
      try {
        log.append(entry);
      } catch (err) {
        this.opts.log.error({ err, experiment_id: active.id }, "could not write the run's actuator log");
      }
    });
    active.actuatorLog = { log, unsubscribe };
  }

  private closeActuatorLog(active: ActiveRun): void {
    if (!active.actuatorLog) return;
    active.actuatorLog.unsubscribe();
    active.actuatorLog.log.close();
    delete active.actuatorLog;
  }

  /**
   * A re-attached run: its actuator log is completed with what the node did while it was down and coming up (the
   * shutdown and start-up safe states, from the node's command log), then the actuators are brought back to where
   * the run had them. Each restore goes through the node's safety rules; one that is refused (heating with no valid
   * temperature, a pump that did not answer) is logged and kept in the run's actuator log with the reason.
   */
  private async resumeActuatorLog(active: ActiveRun, restore = true): Promise<void> {
    const hardware = this.opts.hardware;
    if (!hardware?.onCommand) return;
    const path = this.opts.store.actuatorLogPath(active.id);
    const before = await readRunActuatorLog(path);
    const since = before.at(-1)?.time ?? active.record.start_time ?? active.record.created_time;
    this.openActuatorLog(active);
    const log = active.actuatorLog?.log;
    if (!log) return;
    // commandLog(since) starts at `since` itself: entries of that same moment already in the file are not repeated.
    const missed = (hardware.commandLog(since) as ActuatorCommand[]).filter(
      (e) => e.time !== since || !before.some((b) => JSON.stringify(b) === JSON.stringify(e)),
    );
    for (const entry of missed) log.append(entry);
    if (!hardware.control || !restore) return;
    const source = `restore:experiment:${active.id}`;
    const restored: string[] = [];
    const refused: string[] = [];
    for (const setpoint of lastSetpoints(before)) {
      try {
        await hardware.control(setpoint.component, setpoint.body, source);
        restored.push(setpoint.component);
      } catch (err) {
        const reason = (err as Error).message;
        refused.push(`${setpoint.component}: ${reason}`);
        log.append({
          time: this.now().toISOString(),
          source,
          component: setpoint.component,
          values: { ...setpoint.body, refused: reason },
        });
      }
    }
    if (restored.length + refused.length > 0) {
      this.opts.log.info(
        { experiment_id: active.id, restored, refused },
        refused.length === 0
          ? 'actuators restored to where the run had them before the restart'
          : `actuators restored after the restart, except ${refused.join('; ')}`,
      );
    }
  }

  /**
   * The hardware safe state, except the actuators a running program drives: the program keeps them (it outlives
   * the run that started it). Answers those left alone.
   */
  private async safeState(reason: string): Promise<string[]> {
    if (!this.opts.hardware) return [];
    const keep = this.opts.programs?.drivenActuators() ?? [];
    try {
      await this.opts.hardware.applySafeState(reason, keep);
    } catch (err) {
      this.opts.log.error({ err, reason }, 'could not apply the hardware safe state');
    }
    return keep;
  }

  /** Says in the run's log (and the node's) which actuators its end left to the running program. */
  private async noteKept(id: string, kept: string[]): Promise<void> {
    if (kept.length === 0) return;
    const program = this.opts.programs?.status();
    const owner = program?.experiment_id === id ? 'this run started' : 'running on the node';
    const text = `the run ended; program "${program?.name ?? '?'}" (${owner}) goes on and keeps ${kept.join(', ')}: the safe state left them as they are (stop it with DELETE /api/v3/programs/current)`;
    this.opts.log.info({ experiment_id: id, program: program?.name, kept }, text);
    await appendFile(this.opts.store.logPath(id), `\n[bioreactor: ${text}]\n`).catch((err: unknown) =>
      this.opts.log.warn({ err, experiment_id: id }, 'could not write to the run log'),
    );
  }

  /** Stops a run (SIGTERM, then SIGKILL after the grace period) and resolves once its end is recorded. */
  async stop(id: string): Promise<{ record: StoredRun; message: string }> {
    const active = this.active;
    if (!active || active.id !== id) {
      const record = await this.opts.store.load(id);
      return { record, message: `Experiment ${id} is not running (${record.status})` };
    }
    active.endReason ??= 'stopped';
    if (active.handle) this.terminate(active, active.handle, this.opts.stopGraceMs);
    // A program run: its program goes (every actuator it drove safe), and its end ends the run.
    else if (active.record.program_run && active.record.status === 'running')
      await this.opts.programs?.stop().catch(() => undefined);
    await active.done;
    return { record: active.record, message: `Experiment ${id} ${active.record.status}` };
  }

  /** Stops the run if it is live, then deletes its folder. */
  async remove(id: string): Promise<void> {
    if (this.active?.id === id) await this.stop(id);
    else await this.opts.store.load(id);
    await this.opts.store.remove(id);
  }

  /** Waits until the run is no longer live (for tests and the benchmark). */
  async settled(id: string): Promise<StoredRun> {
    if (this.active?.id === id) await this.active.done;
    return this.opts.store.load(id);
  }

  /**
   * At start-up: re-attach to a run whose container still exists (running or ended while the node was down), and
   * mark every other live run `interrupted`, applying the safe state.
   */
  async recover(): Promise<void> {
    await this.opts.store.init();
    await this.opts.runner.probe();
    const live = (await this.opts.store.list()).filter((r) => isLive(r.status));
    let interrupted = false;
    for (const run of live) {
      const id = run.experiment_id;
      if (run.program_run) {
        if (await this.resumeProgramRun(run)) continue;
        run.status = 'interrupted';
        run.end_time = this.now().toISOString();
        run.error_message = 'The node restarted during this program run and its program could not be resumed';
        await this.publish(run);
        this.opts.log.warn({ experiment_id: id }, 'program run interrupted by a node restart');
        interrupted = true;
        continue;
      }
      // A run whose container was being created when the node died has no ref on record; the runner may still
      // find it by the run's id (the container's name), so that it is adopted instead of left running as a ghost.
      const ref = run.runner_ref ?? this.opts.runner.refFor?.(id) ?? null;
      // A pre-flight's clock died with the node: it is recorded as interrupted (and is cheap to run again).
      if (!this.active && run.runner === this.opts.runner.kind && ref && !run.accelerated) {
        let gateway: HardwareGateway | undefined;
        try {
          gateway = await this.openGateway(id);
          const handle = await this.opts.runner.reattach(ref, {
            ...this.spec(id, gateway.endpoint),
            outputSince: await lastLogTime(this.opts.store.logPath(id)),
            outputTail: await readLogTail(this.opts.store.logPath(id), run.limits.log_bytes, OVERLAP_SEARCH_BYTES),
          });
          if (handle) {
            run.runner_ref = handle.ref;
            const active = newActiveRun(id, run, { handle, gateway });
            await this.resumeActuatorLog(active);
            this.active = active;
            const elapsed = runElapsedMs(run, this.now().getTime(), process.hrtime.bigint(), await bootId());
            if (elapsed.clockStepMs !== null && Math.abs(elapsed.clockStepMs) > CLOCK_STEP_LOG_MS) {
              this.opts.log.warn(
                { experiment_id: id, step_ms: elapsed.clockStepMs },
                `the wall clock moved ${Math.round(elapsed.clockStepMs / 1000)} s against the monotonic clock since the run started; its time is measured on the monotonic clock`,
              );
            }
            this.watch(active, handle, run.max_duration_s * 1000 - elapsed.ms);
            this.opts.log.info({ experiment_id: id }, 'experiment re-attached after a node restart');
            continue;
          }
        } catch (err) {
          this.opts.log.warn({ err, experiment_id: id }, 'could not re-attach');
        }
        await gateway?.close().catch(() => undefined);
      }
      if (ref) {
        await this.opts.runner.abandon?.(ref, {
          experimentId: id,
          scriptPath: this.opts.store.scriptPath(id),
          outputDir: this.opts.store.outputDir(id),
          hardware: { kind: 'tcp', url: '' },
          limits: { memoryBytes: 0, cpus: 0, pids: 0, fileBytes: 0, logBytes: 0 },
        });
      }
      run.status = 'interrupted';
      run.end_time = this.now().toISOString();
      run.runner_ref = null;
      run.error_message = 'The node restarted during this run and the run could not be recovered';
      await this.publish(run);
      this.opts.log.warn({ experiment_id: id }, 'experiment interrupted by a node restart');
      interrupted = true;
    }
    if (interrupted) await this.safeState('interrupted experiment after a node restart');
    // Never two runs at once, and no ghosts: every container of this node but the one re-attached goes.
    const kept = this.active?.handle ? [this.active.handle.ref] : [];
    for (const removed of (await this.opts.runner.sweep?.(kept).catch((err: unknown) => {
      this.opts.log.error({ err }, "could not list this node's experiment containers");
      return [];
    })) ?? []) {
      this.opts.log.warn({ container: removed }, `removed a container no run of this node follows: ${removed}`);
    }
    if (!this.active) await rm(join(this.opts.dataDir, 'run'), { recursive: true, force: true }).catch(() => undefined);
  }

  /** A program run found live at start-up, whose program the executor resumed: followed again, still running. */
  private async resumeProgramRun(run: StoredRun): Promise<boolean> {
    const programs = this.opts.programs;
    const owned = programs?.running === true && programs.status().experiment_id === run.experiment_id;
    // A pre-flight's clock died with the node: its program goes too.
    if (!programs || !owned || this.active || run.accelerated) {
      if (owned) await programs?.stop().catch(() => undefined);
      return false;
    }
    const active = newActiveRun(run.experiment_id, run);
    // Only what the node did meanwhile is added: the program has put its actuators in the step of now itself.
    await this.resumeActuatorLog(active, false);
    this.active = active;
    const elapsed = runElapsedMs(run, this.now().getTime(), process.hrtime.bigint(), await bootId());
    this.watchProgram(active, run.max_duration_s * 1000 - elapsed.ms);
    this.opts.log.info({ experiment_id: run.experiment_id }, 'program run resumed after a node restart');
    return true;
  }

  /**
   * The node is shutting down. A container keeps running and is re-attached at the next start (its hardware access
   * pauses meanwhile); a local process cannot be re-attached, so it is stopped and recorded as interrupted.
   */
  async detach(): Promise<void> {
    clearTimeout(this.retryTimer);
    const active = this.active;
    if (!active) return;
    // A program run stays running: its program's state is on disk and the next start resumes both.
    if (active.record.program_run) {
      active.detached = true;
      for (const timer of active.timers) clearTimeout(timer);
      await active.csvWriting?.catch(() => undefined);
      this.closeActuatorLog(active);
      this.active = null;
      active.settle();
      return;
    }
    if (this.opts.runner.kind === 'local' || !active.handle) {
      active.endReason ??= 'stopped';
      if (active.handle) this.terminate(active, active.handle, Math.min(this.opts.stopGraceMs, 2000));
      await active.done;
      if (active.record.status === 'stopped') {
        active.record.status = 'interrupted';
        active.record.error_message = 'The node shut down during this run';
        await this.publish(active.record).catch(() => undefined);
      }
      return;
    }
    active.detached = true;
    this.closeActuatorLog(active);
    for (const timer of active.timers) clearTimeout(timer);
    active.handle.detach?.();
    await active.gateway?.close().catch(() => undefined);
    this.active = null;
    active.settle();
  }
}
