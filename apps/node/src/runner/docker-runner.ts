// Runs each experiment in a hardened container on the Docker Engine API: no network (the hardware API arrives on
// a mounted Unix socket), non-root, read-only root filesystem, no capabilities, no new privileges, memory, CPU,
// pids, file-size and log limits, and only this experiment's script (read-only) and output folder mounted.
import { chmod, chown } from 'node:fs/promises';
import { relative, resolve, sep } from 'node:path';
import Docker from 'dockerode';
import { alreadyKept, timeNs } from '../experiments/run-log.js';
import {
  CLIENT_FILE,
  CLIENT_LABEL,
  clientRefusal,
  type ExpectedClient,
  expectedClient,
  parseClientLabel,
} from './client-check.js';
import {
  acceleratedEnv,
  type ExperimentRunner,
  type OutputChunk,
  type RunExit,
  type RunHandle,
  type RunnerInfoBody,
  type RunSpec,
} from './runner.js';

/** Label on every experiment container, with the experiment id. */
export const EXPERIMENT_LABEL = 'org.bioreactor.experiment';
/** Label with the node's DATA_DIR, so nodes (and test runs) sharing one engine never touch each other's runs. */
export const DATA_DIR_LABEL = 'org.bioreactor.data-dir';
/** The unprivileged user of the image (runtime/build-image.sh, runtime/Dockerfile). */
export const EXPERIMENT_UID = 10001;
/** Image label listing what an experiment script runs with: `python==3.11.2 numpy==1.24.2 …` (runtime/). */
export const PACKAGES_LABEL = 'org.bioreactor.packages';

/** The packages label as `{ python: '3.11.2', numpy: '1.24.2', … }`; null when the image has none. */
export function parsePackagesLabel(label: string | undefined): Record<string, string> | null {
  if (!label?.trim()) return null;
  const packages: Record<string, string> = {};
  for (const item of label.trim().split(/\s+/)) {
    const at = item.indexOf('==');
    if (at > 0) packages[item.slice(0, at)] = item.slice(at + 2);
  }
  return Object.keys(packages).length > 0 ? packages : null;
}

const ENTRYPOINT = ['python3', '/opt/bioreactor/experiment_entrypoint.py'];
const SCRIPT_IN_CONTAINER = '/app/user_script.py';
const OUTPUT_IN_CONTAINER = '/app/output';
const SOCKET_DIR_IN_CONTAINER = '/run/bioreactor';

export interface DockerRunnerOptions {
  image: string;
  /** The node's DATA_DIR as the node sees it. */
  dataDir: string;
  /** The same folder as the Docker host sees it, when the node itself runs in a container (HOST_DATA_PATH). */
  hostDataPath?: string | undefined;
  /** The bioreactor_client the image must hold (default: this node's API level and python/src; tests pass one). */
  client?: ExpectedClient;
  docker?: Docker;
  probeTimeoutMs?: number;
}

function statusOf(err: unknown): number | undefined {
  return (err as { statusCode?: number }).statusCode;
}

/**
 * Splits Docker's multiplexed stdout/stderr stream (8-byte frame headers, one frame per log entry) back into the
 * entries in order; with `timestamps`, each entry's leading RFC3339Nano time becomes the chunk's `time`.
 */
export async function* demultiplex(
  stream: AsyncIterable<Buffer | string>,
  timestamps = false,
): AsyncGenerator<OutputChunk> {
  let pending = Buffer.alloc(0);
  for await (const chunk of stream) {
    pending = Buffer.concat([pending, typeof chunk === 'string' ? Buffer.from(chunk) : chunk]);
    while (pending.length >= 8) {
      const size = pending.readUInt32BE(4);
      if (pending.length < 8 + size) break;
      // Byte 0 of the header is the stream: 1 stdout, 2 stderr.
      const stream = pending[0] === 2 ? ('stderr' as const) : ('stdout' as const);
      const frame = pending.subarray(8, 8 + size);
      pending = pending.subarray(8 + size);
      if (frame.length === 0) continue;
      const space = timestamps ? frame.indexOf(0x20) : -1;
      if (space > 0) {
        yield { data: Buffer.from(frame.subarray(space + 1)), time: frame.subarray(0, space).toString(), stream };
      } else yield { data: Buffer.from(frame), stream };
    }
  }
}

/** How far before the node stopped reading the engine's log is asked from, so the two overlap (10 s). */
const GAP_MARGIN_NS = 10_000_000_000n;

/** A time as the engine's log API takes it: seconds.nanoseconds since the epoch. */
function engineTime(ns: bigint): string {
  return `${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, '0')}`;
}

export class DockerRunner implements ExperimentRunner {
  readonly kind = 'docker' as const;
  readonly endpoint = 'unix' as const;
  readonly docker: Docker;
  private readonly dataDir: string;
  private last: RunnerInfoBody;
  private digest: string | null = null;
  private packages: Record<string, string> | null = null;

  constructor(private readonly opts: DockerRunnerOptions) {
    this.docker = opts.docker ?? new Docker();
    this.dataDir = resolve(opts.dataDir);
    this.last = { kind: 'docker', available: false, detail: 'not probed yet' };
  }

  info(): RunnerInfoBody {
    return this.last;
  }

  /** The path Docker must bind-mount for a path under DATA_DIR (they differ when the node is in a container). */
  hostPath(local: string): string {
    if (!this.opts.hostDataPath) return local;
    const rel = relative(this.dataDir, resolve(local));
    if (rel.startsWith('..') || rel.startsWith(sep)) throw new Error(`${local} is outside DATA_DIR ${this.dataDir}`);
    return resolve(this.opts.hostDataPath, rel);
  }

  async probe(): Promise<RunnerInfoBody> {
    const timeoutMs = this.opts.probeTimeoutMs ?? 3000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      const version = (await Promise.race([this.docker.version(), timeout])) as { Version?: string };
      try {
        const image = await this.docker.getImage(this.opts.image).inspect();
        const labels = image.Config?.Labels ?? {};
        // runtime/build-image.sh labels the image; runtime/Dockerfile writes the same line into it.
        const clientLabel = labels[CLIENT_LABEL] || (await this.readImageFile(CLIENT_FILE));
        const refusal = clientRefusal(this.opts.image, clientLabel, this.opts.client ?? expectedClient());
        if (refusal) {
          // An image whose client is older than this node's API (or another than its own) runs nothing.
          this.digest = null;
          this.last = {
            kind: 'docker',
            available: false,
            detail: `Docker engine ${version.Version ?? '?'}; ${refusal}`,
          };
          return this.last;
        }
        this.digest = image.Id;
        this.packages = parsePackagesLabel(labels[PACKAGES_LABEL]);
        const client = parseClientLabel(clientLabel);
        this.last = {
          kind: 'docker',
          available: true,
          detail: `Docker engine ${version.Version ?? '?'}; image ${this.opts.image} (${image.Id.slice(0, 19)}), bioreactor_client ${client?.version} (API level ${client?.api})`,
        };
      } catch (err) {
        this.digest = null;
        this.last = {
          kind: 'docker',
          available: false,
          detail:
            statusOf(err) === 404
              ? `Docker engine ${version.Version ?? '?'} has no image ${this.opts.image}: build it with runtime/build-image.sh (offline) or docker build -f runtime/Dockerfile -t ${this.opts.image} .`
              : `cannot inspect image ${this.opts.image}: ${(err as Error).message}`,
        };
      }
    } catch (err) {
      this.digest = null;
      this.last = {
        kind: 'docker',
        available: false,
        detail: `no Docker engine answers (${(err as Error).message}); start one with scripts/docker-engine.sh`,
      };
    } finally {
      clearTimeout(timer);
    }
    return this.last;
  }

  /**
   * A small text file of the image, read without running anything: a container created (never started) from it,
   * the file taken out as a tar archive, the container removed. Undefined when it is not there.
   */
  private async readImageFile(path: string): Promise<string | undefined> {
    let container: Docker.Container | undefined;
    try {
      container = await this.docker.createContainer({
        Image: this.opts.image,
        Entrypoint: ['/bin/true'],
        Cmd: [],
        NetworkDisabled: true,
      });
      const archive = await container.getArchive({ path });
      const chunks: Buffer[] = [];
      for await (const chunk of archive as AsyncIterable<Buffer>) chunks.push(chunk);
      const tar = Buffer.concat(chunks);
      // One file: a 512-byte ustar header (its size in octal at offset 124), then the file's bytes.
      const size = Number.parseInt(tar.subarray(124, 136).toString('latin1').replace(/\0.*$/, '').trim(), 8);
      return Number.isFinite(size)
        ? tar
            .subarray(512, 512 + size)
            .toString('utf8')
            .trim()
        : undefined;
    } catch {
      return undefined;
    } finally {
      await container?.remove({ force: true }).catch(() => {});
    }
  }

  async image(): Promise<{ image: string | null; digest: string | null; packages: Record<string, string> | null }> {
    return { image: this.opts.image, digest: this.digest, packages: this.digest ? this.packages : null };
  }

  private async containerUser(outputDir: string): Promise<string> {
    const uid = process.getuid?.() ?? EXPERIMENT_UID;
    const gid = process.getgid?.() ?? EXPERIMENT_UID;
    if (uid !== 0) return `${uid}:${gid}`;
    // A root node lets the image's unprivileged user (never root) write the output folder through its group, and
    // keeps the folder its own with the sticky bit: the script may then remove only files it made itself, not the
    // node's hard link output/container_logs.txt.
    await chown(outputDir, 0, EXPERIMENT_UID);
    await chmod(outputDir, 0o1770);
    return `${EXPERIMENT_UID}:${EXPERIMENT_UID}`;
  }

  async start(spec: RunSpec): Promise<RunHandle> {
    if (spec.hardware.kind !== 'unix') throw new Error('the Docker runner needs a Unix-socket hardware endpoint');
    const { limits } = spec;
    const name = `experiment-${spec.experimentId}`;
    const options: Docker.ContainerCreateOptions = {
      name,
      Image: this.opts.image,
      Entrypoint: ENTRYPOINT,
      Cmd: [SCRIPT_IN_CONTAINER],
      User: await this.containerUser(spec.outputDir),
      WorkingDir: OUTPUT_IN_CONTAINER,
      Env: [
        'BIOREACTOR_NODE_API_URL=http://localhost:9000',
        `EXPERIMENT_ID=${spec.experimentId}`,
        `OUTPUT_DIR=${OUTPUT_IN_CONTAINER}`,
        'PYTHONUNBUFFERED=1',
        'PYTHONDONTWRITEBYTECODE=1',
        `BIOREACTOR_HARDWARE_SOCKET=${SOCKET_DIR_IN_CONTAINER}/hardware.sock`,
        'HOME=/tmp',
        'MPLCONFIGDIR=/tmp/matplotlib',
        'MPLBACKEND=Agg',
        // The entrypoint starts the script through bioreactor_client.accelerated when these are set.
        ...Object.entries(spec.time ? acceleratedEnv(spec.time) : {}).map(([k, v]) => `${k}=${v}`),
      ],
      Labels: { [EXPERIMENT_LABEL]: spec.experimentId, [DATA_DIR_LABEL]: this.dataDir },
      StopSignal: 'SIGTERM',
      HostConfig: {
        Binds: [
          `${this.hostPath(spec.scriptPath)}:${SCRIPT_IN_CONTAINER}:ro`,
          `${this.hostPath(spec.outputDir)}:${OUTPUT_IN_CONTAINER}:rw`,
          `${this.hostPath(spec.hardware.socketDir)}:${SOCKET_DIR_IN_CONTAINER}:ro`,
        ],
        NetworkMode: 'none',
        Memory: limits.memoryBytes,
        MemorySwap: limits.memoryBytes,
        NanoCpus: Math.round(limits.cpus * 1e9),
        PidsLimit: limits.pids,
        ReadonlyRootfs: true,
        Tmpfs: { '/tmp': 'rw,nosuid,nodev,size=64m' },
        CapDrop: ['ALL'],
        SecurityOpt: ['no-new-privileges:true'],
        Privileged: false,
        IpcMode: 'private',
        Ulimits: [
          { Name: 'fsize', Soft: limits.fileBytes, Hard: limits.fileBytes },
          { Name: 'nofile', Soft: 1024, Hard: 1024 },
        ],
        // The node keeps the log itself (run-log.ts); the engine's copy only bridges a node restart, so it keeps the
        // newest output: two files of the log limit, the older dropped first.
        LogConfig: { Type: 'json-file', Config: { 'max-size': String(limits.logBytes), 'max-file': '2' } },
        AutoRemove: false,
      },
    };
    let container: Docker.Container;
    try {
      container = await this.docker.createContainer(options);
    } catch (err) {
      if (statusOf(err) !== 409) throw err;
      // A container of that name is left from an earlier attempt: remove it if it is ours and ended.
      const old = this.docker.getContainer(name);
      const info = await old.inspect();
      if (info.State.Running || info.Config.Labels?.[DATA_DIR_LABEL] !== this.dataDir) {
        throw new Error(`a container named ${name} already exists and is not a finished run of this node`);
      }
      await old.remove({ force: true });
      container = await this.docker.createContainer(options);
    }
    let attached: NodeJS.ReadableStream | undefined;
    try {
      // Attached before the start, so the node gets every byte from the first one (the output section of handle()).
      attached = await container.attach({ stream: true, stdout: true, stderr: true, logs: false });
      await spec.ready;
      await container.start();
    } catch (err) {
      (attached as unknown as { destroy?(): void } | undefined)?.destroy?.();
      await container.remove({ force: true }).catch(() => undefined);
      throw err;
    }
    return this.handle(container, { attached });
  }

  refFor(experimentId: string): string {
    return `experiment-${experimentId}`;
  }

  async reattach(ref: string, spec?: RunSpec): Promise<RunHandle | null> {
    let container = this.docker.getContainer(ref);
    try {
      const info = await container.inspect();
      if (info.Config.Labels?.[DATA_DIR_LABEL] !== this.dataDir) return null;
      // Made but never started (the node died in between): it never ran a line, and waiting on it would never end.
      if (info.State.Status === 'created') {
        await container.remove({ force: true });
        return null;
      }
      container = this.docker.getContainer(info.Id);
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw err;
    }
    // Attached first, then what the engine logged since the node's last kept output and before the attach.
    const attached = await container.attach({ stream: true, stdout: true, stderr: true, logs: false });
    return this.handle(container, {
      attached,
      since: spec?.outputSince ?? null,
      ...(spec?.outputTail ? { tail: spec.outputTail } : {}),
    });
  }

  async sweep(keep: readonly string[]): Promise<string[]> {
    const removed: string[] = [];
    for (const info of await this.listOwn()) {
      if (keep.includes(info.Id)) continue;
      const name = (info.Names[0] ?? info.Id).replace(/^\//, '');
      await this.docker
        .getContainer(info.Id)
        .remove({ force: true })
        .then(
          () => removed.push(`${name} (${info.State}, experiment ${info.Labels[EXPERIMENT_LABEL] ?? '?'})`),
          (err: unknown) => {
            if (statusOf(err) !== 404) throw err;
          },
        );
    }
    return removed;
  }

  /** Experiment containers of this node (by label), for reconciliation and clean-up. */
  async listOwn(): Promise<Docker.ContainerInfo[]> {
    return this.docker.listContainers({
      all: true,
      filters: { label: [`${DATA_DIR_LABEL}=${this.dataDir}`] },
    });
  }

  /**
   * A run's output comes from an attach to the container's stdout and stderr, not from the engine's log files: the
   * engine copies to an attached reader synchronously (the script waits rather than output being lost), while its
   * json-file log rotates at its size cap and loses whatever a follower has not read yet (a burst of 50 MB kept
   * only 8 MB in a measurement). The engine's log only fills the gap of a node restart: what it stamped after the
   * node's last kept output and before the new attach.
   */
  private handle(
    container: Docker.Container,
    capture: { attached: NodeJS.ReadableStream; since?: string | null; tail?: Buffer },
  ): RunHandle {
    let exit: Promise<RunExit> | undefined;
    const docker = container;
    const streams: NodeJS.ReadableStream[] = [capture.attached];
    const attachedAt = new Date();
    const ns = capture.since ? timeNs(capture.since) : null;
    return {
      ref: container.id,
      output: {
        [Symbol.asyncIterator]: async function* () {
          if (ns !== null) {
            // From a little before the node stopped reading, so that the engine's log overlaps what was kept; the
            // overlap is found by content (alreadyKept) and skipped.
            const raw = (await docker.logs({
              follow: false,
              stdout: true,
              stderr: true,
              timestamps: true,
              since: engineTime(ns > GAP_MARGIN_NS ? ns - GAP_MARGIN_NS : 0n),
              until: engineTime(BigInt(attachedAt.getTime()) * 1_000_000n),
            } as unknown as Docker.ContainerLogsOptions & { follow: false })) as unknown as Buffer;
            const entries: OutputChunk[] = [];
            for await (const entry of demultiplex(
              (async function* () {
                yield raw;
              })(),
              true,
            )) {
              entries.push(entry);
            }
            const gap = Buffer.concat(entries.map((e) => e.data));
            const kept = capture.tail ? alreadyKept(capture.tail, gap) : -1;
            if (kept >= 0) {
              // Chunks without a time: RunLog keeps them all; the overlap is gone already.
              if (gap.length > kept) yield { data: gap.subarray(kept) };
            } else {
              // Nothing kept to compare with: by time, after the node stopped reading.
              for (const entry of entries) {
                const at = entry.time ? timeNs(entry.time) : null;
                if (at === null || at > ns)
                  yield { data: entry.data, ...(entry.stream ? { stream: entry.stream } : {}) };
              }
            }
          }
          for await (const chunk of demultiplex(capture.attached as unknown as AsyncIterable<Buffer>)) {
            // The node's own time of arrival: what a later re-attach asks the engine's log after.
            yield { ...chunk, time: new Date().toISOString() };
          }
        },
      },
      detach: () => {
        for (const stream of streams) (stream as unknown as { destroy(): void }).destroy();
      },
      wait: () => {
        exit ??= (async (): Promise<RunExit> => {
          try {
            const result = (await docker.wait()) as { StatusCode: number };
            // The kernel's OOM killer sends SIGKILL (137); any other code needs no second round trip.
            if (result.StatusCode !== 137) return { exitCode: result.StatusCode, oomKilled: false };
            const info = await docker.inspect();
            return { exitCode: result.StatusCode, oomKilled: info.State.OOMKilled === true };
          } catch (err) {
            return { exitCode: null, oomKilled: false, error: `lost the container: ${(err as Error).message}` };
          }
        })();
        return exit;
      },
      stop: async (graceMs: number) => {
        try {
          await docker.stop({ t: Math.max(0, Math.ceil(graceMs / 1000)) });
        } catch (err) {
          // 304: already stopped; 404: already gone. Both mean the script is no longer running.
          if (statusOf(err) !== 304 && statusOf(err) !== 404) throw err;
        }
      },
      release: async () => {
        try {
          await docker.remove({ force: true });
        } catch (err) {
          if (statusOf(err) !== 404 && statusOf(err) !== 409) throw err;
        }
      },
    };
  }
}
