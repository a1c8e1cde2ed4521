// Experiments on disk: $DATA_DIR/experiments/{id}/{user_script.py,status.json,container_logs.txt,output/}. The run's
// folder is the node's; only output/ is the script's (mounted into its container), and everything read from there goes
// through untrusted-tree.ts. status.json is the only record of a run, written atomically (temp file, fsync, rename)
// so that it survives kill -9 and power loss.
import { createHash } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { type FileHandle, link, mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ApiError, EXPERIMENT_ID_PATTERN, type RunRecord } from '@bioreactor/api';
import { ACTUATOR_LOG_FILE } from './run-actuator-log.js';
import {
  type LeftOut,
  measure,
  openTreeFile,
  type TreeUsage,
  UnsafeEntry,
  UntrustedDir,
  walk,
} from './untrusted-tree.js';

export const SCRIPT_FILE = 'user_script.py';
export const STATUS_FILE = 'status.json';
export const OUTPUT_DIR = 'output';
export const LOG_FILE = 'container_logs.txt';
export const DATA_FILE = 'experiment_data.csv';

const ID = new RegExp(EXPERIMENT_ID_PATTERN);

/** An accelerated run's report (preflight.ts), among the node's own files of the run. */
export const PREFLIGHT_FILE = 'preflight.json';

/** The time of an accelerated run: its rate and the instant it took effect on both clocks. */
export interface RunTime {
  time_scale: number;
  /** Wall-clock ms at the instant the run's rate took effect. */
  origin_wall_ms: number;
  /** The twin's clock at that same instant (ms since the epoch). */
  origin_clock_ms: number;
}

/** What the node keeps about a run: the public record plus what it needs to re-attach and to write the manifest. */
export interface StoredRun extends RunRecord {
  script_sha256: string;
  created_time: string;
  /** Container id (docker) or process id (local) while the run may still be alive. */
  runner_ref: string | null;
  /**
   * When the run started on the machine's monotonic clock (CLOCK_MONOTONIC, ns, as a decimal string) and that boot's
   * id: a node restarted on the same boot measures the run's time from it, whatever the wall clock did meanwhile.
   */
  start_monotonic?: { ns: string; boot_id: string } | null;
  /** A run on the twin at accelerated time (a pre-flight): its rate and the instant both clocks were anchored at. */
  accelerated?: RunTime;
  /** A program run (no script): its program's name, the CSV's interval, and whether the program ends by itself. */
  program_run?: { name: string; sample_interval_s: number; ends: boolean };
  /** Programs the run started (through its hardware API), which may outlive it: for the manifest. */
  programs?: { name: string; started_at: string }[];
  /** Node version, hardware configuration and capabilities when the run started (for the manifest). */
  context: RunContext;
  limits: RunLimits;
}

export interface RunContext {
  node_version: string;
  /** What the experiment image holds (python and each allowed package with its version); absent in older runs. */
  image_packages?: Record<string, string> | null;
  hardware_mode: string;
  hardware_config: unknown;
  capabilities: unknown;
  /** What each actuator had done since the node started (pumped mL, valve openings) when the run started. */
  counters_at_start?: unknown;
  /** The same once the run has ended and the safe state was applied; the run's share is the difference. */
  counters_at_end?: unknown;
}

export interface RunLimits {
  memory_bytes: number;
  cpus: number;
  pids: number;
  output_bytes: number;
  /** Files and folders output/ may hold (absent in runs recorded before this limit existed). */
  output_files?: number;
  log_bytes: number;
}

/** Default of BIOREACTOR_EXPERIMENT_OUTPUT_FILES, and the limit of runs recorded before it existed. */
export const DEFAULT_OUTPUT_FILES = 10_000;

/** Why the script's own output/container_logs.txt is not in the download (the node's captured log is). */
export const RESERVED_LOG_REASON = "the node's captured log has this name";

export function assertExperimentId(id: string): void {
  if (!ID.test(id)) {
    throw new ApiError(
      'VALIDATION_FAILED',
      `Experiment id '${id.slice(0, 80)}' is not valid: use 1-64 letters, digits, - and _ (starting with a letter or digit)`,
    );
  }
}

export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Temporary files' sequence: two writes of one file in the same millisecond must not share a temporary name. */
let tmpSeq = 0;

async function writeFileDurably(path: string, data: string | Buffer, mode = 0o644): Promise<void> {
  const tmp = `${path}.${process.pid}.${Date.now()}.${tmpSeq++}.tmp`;
  const handle = await open(tmp, 'w', mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, path);
  // The rename itself is durable only once the directory entry is on disk.
  const dir = await open(resolve(path, '..'), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

export class ExperimentStore {
  readonly root: string;
  /** Per status.json, the save in progress (see save). */
  private readonly saving = new Map<string, Promise<void>>();

  constructor(dataDir: string) {
    this.root = resolve(dataDir, 'experiments');
  }

  dir(id: string): string {
    assertExperimentId(id);
    return join(this.root, id);
  }
  scriptPath(id: string): string {
    return join(this.dir(id), SCRIPT_FILE);
  }
  outputDir(id: string): string {
    return join(this.dir(id), OUTPUT_DIR);
  }
  /** The run's own actuator log (run-actuator-log.ts), in the node's part of the folder. */
  actuatorLogPath(id: string): string {
    return join(this.dir(id), ACTUATOR_LOG_FILE);
  }

  /** An accelerated run's pre-flight report (preflight.ts), in the node's part of the folder. */
  preflightPath(id: string): string {
    return join(this.dir(id), PREFLIGHT_FILE);
  }

  /** The captured stdout and stderr: the node's file, outside the script's reach (output/ has a hard link to it). */
  logPath(id: string): string {
    return join(this.dir(id), LOG_FILE);
  }

  async init(): Promise<void> {
    await mkdir(this.root, { recursive: true });
  }

  async exists(id: string): Promise<boolean> {
    try {
      await stat(join(this.dir(id), STATUS_FILE));
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Creates the folder, the script (read-only for everyone but the node), the captured log and output/, with a hard
   * link output/container_logs.txt to the log where the deployment guide's troubleshooting reads it. The node itself
   * only ever writes and reads the log by its own path: the script may delete or replace the link in output/.
   */
  async create(id: string, script: string): Promise<void> {
    const dir = this.dir(id);
    await mkdir(join(dir, OUTPUT_DIR), { recursive: true });
    await writeFileDurably(join(dir, SCRIPT_FILE), script, 0o644);
    const log = await open(
      this.logPath(id),
      fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW,
      0o644,
    );
    await log.close();
    await link(this.logPath(id), join(dir, OUTPUT_DIR, LOG_FILE));
  }

  /**
   * Opens the captured log for reading, or null when there is none yet. A run recorded before the log moved out of
   * output/ has it only there, where it is read as the script's file (no link followed).
   */
  async openLog(id: string): Promise<FileHandle | null> {
    try {
      return await open(this.logPath(id), fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    try {
      return (await openTreeFile(this.outputDir(id), LOG_FILE)).handle;
    } catch {
      return null;
    }
  }

  /**
   * Top-level names of output/ that the node serves itself (untrusted-tree.ts `reserved`): container_logs.txt, when
   * the run has the node's own log (runs recorded earlier kept it in output/ only). Empty otherwise.
   */
  async reservedNames(id: string): Promise<Map<string, { reason: string; ino: number }>> {
    return stat(this.logPath(id)).then(
      (info) => new Map([[LOG_FILE, { reason: RESERVED_LOG_REASON, ino: info.ino }]]),
      () => new Map(),
    );
  }

  /**
   * Writes the run's status.json. Saves of one run are written one after the other in the order they were asked
   * for (a program's start and the run's own start save at once): the last state asked for is the one on disk.
   */
  async save(run: StoredRun): Promise<void> {
    const path = join(this.dir(run.experiment_id), STATUS_FILE);
    const text = `${JSON.stringify(run, null, 2)}\n`;
    const write = (this.saving.get(path) ?? Promise.resolve())
      .catch(() => undefined)
      .then(() => writeFileDurably(path, text));
    this.saving.set(path, write);
    try {
      await write;
    } finally {
      if (this.saving.get(path) === write) this.saving.delete(path);
    }
  }

  async load(id: string): Promise<StoredRun> {
    let text: string;
    try {
      text = await readFile(join(this.dir(id), STATUS_FILE), 'utf8');
    } catch {
      throw new ApiError('EXPERIMENT_NOT_FOUND', `No experiment '${id}' on this node; GET /api/experiments lists them`);
    }
    return JSON.parse(text) as StoredRun;
  }

  /** Every run with a readable status.json, newest first. Unreadable folders are skipped, not fatal. */
  async list(): Promise<StoredRun[]> {
    let names: string[];
    try {
      names = await readdir(this.root);
    } catch {
      return [];
    }
    const runs: StoredRun[] = [];
    for (const name of names) {
      if (!ID.test(name)) continue;
      try {
        runs.push(JSON.parse(await readFile(join(this.root, name, STATUS_FILE), 'utf8')) as StoredRun);
      } catch {
        // A folder without a status file is a start that never finished writing; it has nothing to show.
      }
    }
    return runs.sort((a, b) => b.created_time.localeCompare(a.created_time));
  }

  async remove(id: string): Promise<void> {
    await rm(this.dir(id), { recursive: true, force: true });
  }

  /**
   * Regular files under output/ (relative paths in bytewise order, at most the run's file limit) and what was left
   * out with the reason: links, FIFOs, devices, names no zip or desktop can hold (untrusted-tree.ts).
   */
  async outputFiles(id: string, maxEntries = DEFAULT_OUTPUT_FILES): Promise<{ files: string[]; left_out: LeftOut[] }> {
    const files: string[] = [];
    const leftOut: LeftOut[] = [];
    let root: UntrustedDir;
    try {
      root = await UntrustedDir.open(this.outputDir(id));
    } catch {
      return { files, left_out: leftOut };
    }
    const reserved = await this.reservedNames(id);
    // The node's log is in the download under output/, whatever the script did to its link there.
    if (reserved.has(LOG_FILE)) files.push(LOG_FILE);
    try {
      for await (const entry of walk(root, { maxEntries, reserved })) {
        if (entry.kind === 'file') files.push(entry.path);
        else leftOut.push({ path: entry.path, reason: entry.reason });
      }
    } finally {
      await root.close();
    }
    return { files: files.sort(), left_out: leftOut };
  }

  /** Bytes and entries under output/, for the run's caps; stops counting past either cap. */
  outputUsage(id: string, caps: { bytes: number; entries: number }): Promise<TreeUsage> {
    return measure(this.outputDir(id), caps);
  }

  /**
   * Opens a regular file under output/ for reading, refusing `..`, absolute paths, symbolic links anywhere on the
   * way and anything that is not a regular file.
   */
  async openOutputFile(id: string, file: string): Promise<FileHandle> {
    if (
      file === '' ||
      file.length > 255 ||
      file.startsWith('/') ||
      file.includes('\\') ||
      file.includes('\0') ||
      file.split('/').some((part) => part === '..' || part === '.' || part === '')
    ) {
      throw new ApiError('VALIDATION_FAILED', `file '${file.slice(0, 80)}' must be a relative path inside output/`);
    }
    try {
      return (await openTreeFile(this.outputDir(id), file)).handle;
    } catch (err) {
      if (!(err instanceof UnsafeEntry)) throw err;
      throw new ApiError('FILE_NOT_FOUND', `Experiment '${id}' has no output file '${file}' (yet); see …/results`);
    }
  }
}
