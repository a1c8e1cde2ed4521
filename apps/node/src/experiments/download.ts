// The results download: a zip streamed as it is built (never buffered whole) with output/**, user_script.py and
// manifest.json, the run's provenance: what ran (script hash, image digest, node version), on what hardware
// (configuration and capabilities at start), when and how it ended, the CSV's columns with units, the actuator
// commands of the run and a SHA-256 of every file in the zip.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import yazl from 'yazl';
import type { ExperimentHardware } from './hardware-gateway.js';
import { publicRecord } from './manager.js';
import { DATA_FILE, type ExperimentStore, SCRIPT_FILE, type StoredRun } from './store.js';

/** Units of the columns bioreactor_client writes (deployment guide, "V3 CSV Output Format"). */
export const CSV_COLUMN_UNITS: Record<string, string | null> = {
  timestamp: 'ISO 8601',
  elapsed: 's',
  co2_ppm: 'ppm',
  temperature: '°C',
  od_voltages: 'V (JSON list, one per channel)',
  eyespy_voltages: 'V (JSON list, one per board)',
  stirrer_duty: '%',
  peltier_duty: '%',
  peltier_direction: null,
  ring_light_r: '0-255',
  ring_light_g: '0-255',
  ring_light_b: '0-255',
  led_power: '%',
};

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
    return csvHeader(first).map((name) => ({ name, unit: CSV_COLUMN_UNITS[name] ?? null }));
  } finally {
    await handle.close();
  }
}

async function commandsOf(hardware: ExperimentHardware | undefined, run: StoredRun): Promise<unknown[]> {
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

/** Hashes a stream's bytes as they pass on to the zip. */
function hashing(stream: Readable, onDone: (sha: string, bytes: number) => void): Readable {
  const hash = createHash('sha256');
  let bytes = 0;
  let done = false;
  const end = () => {
    if (done) return;
    done = true;
    onDone(hash.digest('hex'), bytes);
  };
  const through = new PassThrough();
  stream.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    bytes += chunk.length;
  });
  stream.on('end', end);
  // A file the running script deleted between listing and reading ends as what was read, not as a broken zip.
  stream.on('error', () => {
    end();
    through.end();
  });
  stream.pipe(through);
  return through;
}

export interface ZipDownload {
  filename: string;
  stream: Readable;
}

export async function buildDownload(
  store: ExperimentStore,
  run: StoredRun,
  hardware: ExperimentHardware | undefined,
): Promise<ZipDownload> {
  const id = run.experiment_id;
  const zip = new yazl.ZipFile();
  const files: { path: string; bytes: number; sha256: string }[] = [];
  const entries = [
    { zipPath: SCRIPT_FILE, open: () => createReadStream(store.scriptPath(id)) },
    ...(await store.outputFiles(id)).map((f) => ({
      zipPath: `output/${f.path}`,
      open: () => createReadStream(join(store.outputDir(id), f.path)),
    })),
  ];
  let pending = entries.length;
  const manifestBase = {
    ...publicRecord(run),
    node_version: run.context.node_version,
    hardware_mode: run.context.hardware_mode,
    hardware_config: run.context.hardware_config,
    capabilities: run.context.capabilities,
    limits: run.limits,
    created_time: run.created_time,
    csv: { file: `output/${DATA_FILE}`, columns: await csvColumns(store, id) },
    actuator_commands: await commandsOf(hardware, run),
    generated_time: new Date().toISOString(),
  };
  const finish = () => {
    const manifest = { ...manifestBase, files: files.sort((a, b) => a.path.localeCompare(b.path)) };
    zip.addBuffer(Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`), 'manifest.json');
    zip.end();
  };
  for (const entry of entries) {
    // Opened only when the zip reaches it, so a run with thousands of files never holds them all open.
    zip.addReadStreamLazy(entry.zipPath, (cb) => {
      cb(
        null,
        hashing(entry.open(), (sha, bytes) => {
          files.push({ path: entry.zipPath, bytes, sha256: sha });
          pending -= 1;
          if (pending === 0) finish();
        }),
      );
    });
  }
  if (entries.length === 0) finish();
  return { filename: `experiment_${id}_results.zip`, stream: zip.outputStream as unknown as Readable };
}
