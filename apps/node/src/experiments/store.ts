// Experiments on disk: $DATA_DIR/experiments/{id}/{user_script.py,status.json,output/}. status.json is the only
// record of a run, written atomically (temp file, fsync, rename) so that it survives kill -9 and power loss.
import { createHash } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { lstat, mkdir, open, readdir, readFile, realpath, rename, rm, stat } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { ApiError, EXPERIMENT_ID_PATTERN, type RunRecord } from '@bioreactor/api';

export const SCRIPT_FILE = 'user_script.py';
export const STATUS_FILE = 'status.json';
export const OUTPUT_DIR = 'output';
export const LOG_FILE = 'container_logs.txt';
export const DATA_FILE = 'experiment_data.csv';

const ID = new RegExp(EXPERIMENT_ID_PATTERN);

/** What the node keeps about a run: the public record plus what it needs to re-attach and to write the manifest. */
export interface StoredRun extends RunRecord {
  script_sha256: string;
  created_time: string;
  /** Container id (docker) or process id (local) while the run may still be alive. */
  runner_ref: string | null;
  /** Node version, hardware configuration and capabilities when the run started (for the manifest). */
  context: RunContext;
  limits: RunLimits;
}

export interface RunContext {
  node_version: string;
  hardware_mode: string;
  hardware_config: unknown;
  capabilities: unknown;
}

export interface RunLimits {
  memory_bytes: number;
  cpus: number;
  pids: number;
  output_bytes: number;
  log_bytes: number;
}

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

async function writeFileDurably(path: string, data: string | Buffer, mode = 0o644): Promise<void> {
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
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
  logPath(id: string): string {
    return join(this.outputDir(id), LOG_FILE);
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

  /** Creates the folder, the script (read-only for everyone but the node) and output/. */
  async create(id: string, script: string): Promise<void> {
    const dir = this.dir(id);
    await mkdir(join(dir, OUTPUT_DIR), { recursive: true });
    await writeFileDurably(join(dir, SCRIPT_FILE), script, 0o644);
  }

  async save(run: StoredRun): Promise<void> {
    await writeFileDurably(join(this.dir(run.experiment_id), STATUS_FILE), `${JSON.stringify(run, null, 2)}\n`);
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
   * Regular files under output/, relative paths, sorted. Symbolic links, FIFOs and devices are skipped: the script
   * owns this folder and could otherwise point the node at any file of the host.
   */
  async outputFiles(id: string): Promise<{ path: string; bytes: number }[]> {
    const base = this.outputDir(id);
    const files: { path: string; bytes: number }[] = [];
    const walk = async (dir: string, depth: number): Promise<void> => {
      if (depth > 32) return;
      let entries: import('node:fs').Dirent[];
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const entry of entries) {
        const full = join(dir, entry.name);
        if (entry.isDirectory()) await walk(full, depth + 1);
        else if (entry.isFile()) {
          const info = await lstat(full).catch(() => null);
          if (info?.isFile()) files.push({ path: relative(base, full).split(sep).join('/'), bytes: info.size });
        }
      }
    };
    await walk(base, 0);
    return files.sort((a, b) => a.path.localeCompare(b.path));
  }

  /** Total bytes under output/ (for the output cap). */
  async outputBytes(id: string): Promise<number> {
    return (await this.outputFiles(id)).reduce((sum, f) => sum + f.bytes, 0);
  }

  /**
   * Opens a regular file under output/ for reading, refusing `..`, absolute paths, symbolic links anywhere on the
   * way and anything that is not a regular file.
   */
  async openOutputFile(id: string, file: string): Promise<import('node:fs/promises').FileHandle> {
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
    const base = this.outputDir(id);
    const full = join(base, file);
    const notFound = () =>
      new ApiError('FILE_NOT_FOUND', `Experiment '${id}' has no output file '${file}' (yet); see …/results`);
    let real: string;
    try {
      real = await realpath(full);
    } catch {
      throw notFound();
    }
    const realBase = await realpath(base).catch(() => base);
    if (real !== join(realBase, file)) throw notFound();
    let handle: import('node:fs/promises').FileHandle;
    try {
      handle = await open(full, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
    } catch {
      throw notFound();
    }
    const info = await handle.stat();
    if (!info.isFile()) {
      await handle.close();
      throw notFound();
    }
    return handle;
  }
}
