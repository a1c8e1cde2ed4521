// The results download: a zip streamed as it is built (never buffered whole) with output/**, user_script.py,
// actuator_log.jsonl and manifest.json, the run's provenance: what ran (script hash, image digest, node version), on
// what hardware (configuration and capabilities at start), when and how it ended, the CSV's columns with units, the
// actuator commands of the run, a SHA-256 of every file in the zip, and what was left out of output/ and why.
import { createHash } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { PassThrough, Readable } from 'node:stream';
import { csvColumnUnit } from '@bioreactor/api';
import yazl from 'yazl';
import type { ExperimentHardware } from './hardware-gateway.js';
import { publicRecord } from './manager.js';
import { readPreflight } from './preflight.js';
import { ACTUATOR_LOG_FILE, readRunActuatorLog } from './run-actuator-log.js';
import {
  DATA_FILE,
  DEFAULT_OUTPUT_FILES,
  type ExperimentStore,
  LOG_FILE,
  PREFLIGHT_FILE,
  SCRIPT_FILE,
  type StoredRun,
} from './store.js';
import { type LeftOut, type UnsafeEntry, UntrustedDir, walk } from './untrusted-tree.js';

/**
 * The unit of a CSV column for the manifest: the readings table's (packages/api readings.ts: the guide's columns and
 * every reading bioreactor_client writes), the row's own timestamp and elapsed time, null for anything else.
 */
export function csvColumnUnitOf(name: string): string | null {
  if (name === 'timestamp') return 'ISO 8601';
  if (name === 'elapsed') return 's';
  return csvColumnUnit(name) ?? null;
}

/** Splits one CSV header line (quoted names allowed) into column names. */
export function csvHeader(line: string): string[] {
  const names: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        current += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else current += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      names.push(current);
      current = '';
    } else current += ch;
  }
  names.push(current);
  return names.map((n) => n.trim());
}

async function csvColumns(store: ExperimentStore, id: string): Promise<{ name: string; unit: string | null }[]> {
  let handle: Awaited<ReturnType<ExperimentStore['openOutputFile']>>;
  try {
    handle = await store.openOutputFile(id, DATA_FILE);
  } catch {
    return [];
  }
  try {
    const buffer = Buffer.alloc(8192);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    const first = buffer.subarray(0, bytesRead).toString('utf8').split(/\r?\n/)[0] ?? '';
    if (first === '') return [];
    return csvHeader(first).map((name) => ({ name, unit: csvColumnUnitOf(name) }));
  } finally {
    await handle.close();
  }
}

/**
 * The run's actuator commands: its own actuator log (every command while it was live, safety cut-offs and the safe
 * states included), or for a run recorded before that log existed, its own commands from the node's recent window.
 */
async function commandsOf(
  store: ExperimentStore,
  hardware: ExperimentHardware | undefined,
  run: StoredRun,
): Promise<unknown[]> {
  const own = await readRunActuatorLog(store.actuatorLogPath(run.experiment_id));
  if (own.length > 0) return own;
  if (!hardware || !run.start_time) return [];
  try {
    const all = (await hardware.commandLog(run.start_time)) as unknown;
    if (!Array.isArray(all)) return [];
    const source = `experiment:${run.experiment_id}`;
    return all.filter((c) => {
      const entry = c as { source?: string };
      return entry.source === undefined || entry.source === source;
    });
  } catch {
    return [];
  }
}

/** One file in the zip, as the manifest lists it. */
interface ZippedFile {
  path: string;
  bytes: number;
  sha256: string;
}

/**
 * Adds one opened file to the zip and resolves once the zip has read it (so only one file is open at a time), with
 * its bytes and SHA-256. At most `size` bytes are read: what the file held when it was opened, even if the running
 * script keeps writing.
 */
function addOpened(
  zip: yazl.ZipFile,
  zipPath: string,
  handle: FileHandle,
  size: number,
  aborted: Promise<void>,
): Promise<Omit<ZippedFile, 'path'> | null> {
  const hash = createHash('sha256');
  let bytes = 0;
  const source = size > 0 ? handle.createReadStream({ start: 0, end: size - 1, autoClose: true }) : Readable.from([]);
  const through = new PassThrough();
  source.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    bytes += chunk.length;
  });
  const read = new Promise<Omit<ZippedFile, 'path'>>((resolve) => {
    const done = () => resolve({ bytes, sha256: hash.digest('hex') });
    source.once('end', done);
    // A read error (the disk, not the script: the file is already open) ends the entry with what was read.
    source.once('error', () => {
      through.end();
      done();
    });
  });
  source.pipe(through);
  zip.addReadStream(through, zipPath);
  return Promise.race([read, aborted.then(() => null)]).finally(() => {
    if (size === 0) void handle.close();
    else source.destroy();
  });
}

export interface ZipDownload {
  filename: string;
  stream: Readable;
}

/**
 * Streams the run's zip. The node's own files (the script, the captured log) are read from the node's part of the
 * run's folder; output/ is walked as untrusted (untrusted-tree.ts): each file is opened without following links,
 * checked, and zipped from that open handle. What is left out is listed in the manifest's `left_out` with the reason.
 */
export async function buildDownload(
  store: ExperimentStore,
  run: StoredRun,
  hardware: ExperimentHardware | undefined,
): Promise<ZipDownload> {
  const id = run.experiment_id;
  const zip = new yazl.ZipFile();
  const output = zip.outputStream as unknown as Readable;
  let abort = () => {};
  const aborted = new Promise<void>((resolve) => {
    abort = resolve;
  });
  // A client that leaves mid-download ends the walk, and with it every open handle.
  output.once('close', abort);
  output.once('error', abort);
  const manifestBase = {
    ...publicRecord(run),
    node_version: run.context.node_version,
    image_packages: run.context.image_packages ?? null,
    hardware_mode: run.context.hardware_mode,
    hardware_config: run.context.hardware_config,
    capabilities: run.context.capabilities,
    ...(run.context.counters_at_start !== undefined
      ? { counters: { at_start: run.context.counters_at_start, at_end: run.context.counters_at_end ?? null } }
      : {}),
    limits: run.limits,
    created_time: run.created_time,
    csv: { file: `output/${DATA_FILE}`, columns: await csvColumns(store, id) },
    actuator_commands: await commandsOf(store, hardware, run),
    ...(run.programs ? { programs: run.programs } : {}),
    ...(run.accelerated
      ? { preflight: { ...run.accelerated, report: await readPreflight(store.preflightPath(id)) } }
      : {}),
    generated_time: new Date().toISOString(),
  };
  const files: ZippedFile[] = [];
  const leftOut: LeftOut[] = [];
  const reserved = await store.reservedNames(id);
  const ownLog = reserved.has(LOG_FILE);

  const addOwn = async (zipPath: string, path: string): Promise<boolean> => {
    let handle: FileHandle;
    try {
      handle = await open(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
    } catch {
      return true;
    }
    const { size } = await handle.stat();
    const added = await addOpened(zip, zipPath, handle, size, aborted);
    if (added) files.push({ path: zipPath, ...added });
    return added !== null;
  };

  const fill = async (): Promise<void> => {
    if (!(await addOwn(SCRIPT_FILE, store.scriptPath(id)))) return;
    if (ownLog && !(await addOwn(`output/${LOG_FILE}`, store.logPath(id)))) return;
    if (!(await addOwn(ACTUATOR_LOG_FILE, store.actuatorLogPath(id)))) return;
    if (!(await addOwn(PREFLIGHT_FILE, store.preflightPath(id)))) return;
    let root: UntrustedDir;
    try {
      root = await UntrustedDir.open(store.outputDir(id));
    } catch {
      return;
    }
    try {
      const maxEntries = run.limits.output_files ?? DEFAULT_OUTPUT_FILES;
      for await (const entry of walk(root, { maxEntries, reserved })) {
        if (entry.kind === 'left_out') {
          leftOut.push({ path: `output/${entry.path}`, reason: entry.reason });
          continue;
        }
        let opened: { handle: FileHandle; size: number };
        try {
          opened = await entry.dir.openFile(entry.name);
        } catch (err) {
          leftOut.push({ path: `output/${entry.path}`, reason: (err as UnsafeEntry).reason ?? String(err) });
          continue;
        }
        const zipPath = `output/${entry.path}`;
        const added = await addOpened(zip, zipPath, opened.handle, opened.size, aborted);
        if (!added) return;
        files.push({ path: zipPath, ...added });
      }
    } finally {
      await root.close();
    }
  };

  void fill()
    .catch((err: unknown) => {
      leftOut.push({ path: 'output/', reason: `the folder could not be read to the end (${(err as Error).message})` });
    })
    .finally(() => {
      const manifest = {
        ...manifestBase,
        files: files.sort((a, b) => a.path.localeCompare(b.path)),
        left_out: leftOut,
      };
      zip.addBuffer(Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`), 'manifest.json');
      zip.end();
    });
  return { filename: `experiment_${id}_results.zip`, stream: output };
}
