// What runs an experiment script: a Docker container (docker-runner.ts) or a local python3 (local-runner.ts).
// The lifecycle (experiments/manager.ts) owns state, files and hardware; a runner only starts, watches and ends
// one process and reports how it ended.
import type { RunnerInfo } from '@bioreactor/api';
import type { Static } from 'typebox';
import type { OutputChunk } from '../experiments/run-log.js';

export type { OutputChunk };

export type RunnerInfoBody = Static<typeof RunnerInfo>;

/** How the experiment reaches the node's hardware-only API for its run. */
export type HardwareEndpoint =
  /** A Unix socket, bind-mounted into the container (docker). */
  | { kind: 'unix'; socketPath: string; socketDir: string }
  /** A loopback URL (local runner). */
  | { kind: 'tcp'; url: string };

export interface RunLimitsSpec {
  memoryBytes: number;
  cpus: number;
  pids: number;
  /** Largest single file the script may write (RLIMIT_FSIZE); the lifecycle enforces the total. */
  fileBytes: number;
  logBytes: number;
}

export interface RunSpec {
  experimentId: string;
  /** Host-local paths (the node's own view). */
  scriptPath: string;
  outputDir: string;
  hardware: HardwareEndpoint;
  limits: RunLimitsSpec;
  /**
   * A run on the twin at accelerated time: the script starts through bioreactor_client.accelerated, its clock and
   * sleeps at `time_scale`, anchored at the same instant as the twin's clock.
   */
  time?: { time_scale: number; origin_wall_ms: number; origin_clock_ms: number };
  /** Resolves when the hardware endpoint listens: the script must not start before (the container may be made). */
  ready?: Promise<unknown>;
  /** A re-attached run's output is wanted after this engine timestamp only (what the node kept already). */
  outputSince?: string | null;
  /** The end of what the node kept of a re-attached run's output, to find where the engine's log goes on from. */
  outputTail?: Buffer;
}

/**
 * The script's environment for a run at accelerated time (python/src/bioreactor_client/accelerated.py): the rate, the
 * wall-clock instant of the anchor and the twin's time at that instant, in epoch seconds.
 */
export function acceleratedEnv(time: NonNullable<RunSpec['time']>): Record<string, string> {
  return {
    BIOREACTOR_TIME_SCALE: String(time.time_scale),
    BIOREACTOR_TIME_ORIGIN: (time.origin_wall_ms / 1000).toFixed(6),
    BIOREACTOR_TIME_AT_ORIGIN: (time.origin_clock_ms / 1000).toFixed(6),
  };
}

/** The module that runs a script with its clock and sleeps at accelerated time. */
export const ACCELERATED_MODULE = 'bioreactor_client.accelerated';

export interface RunExit {
  exitCode: number | null;
  oomKilled: boolean;
  /** Why the runner could not tell how the script ended, if it could not. */
  error?: string;
}

/** One started (or re-attached) run. */
export interface RunHandle {
  /** Container id or process id, kept in status.json to re-attach after a node restart. */
  readonly ref: string;
  /**
   * Combined stdout and stderr, in order, from the start of the run (a re-attached run from `outputSince`, with the
   * engine's timestamps so that nothing is kept twice). Ends when the process has ended and its output is drained.
   */
  readonly output: AsyncIterable<OutputChunk>;
  /** Resolves once, when the script has ended. */
  wait(): Promise<RunExit>;
  /** SIGTERM, then SIGKILL after the grace period. Safe to call more than once, and after the end. */
  stop(graceMs: number): Promise<void>;
  /** Frees what the run leaves behind (the container), after output and exit were collected. */
  release(): Promise<void>;
  /** Stops following without ending the run (the node shuts down; a later start re-attaches). */
  detach?(): void;
}

export interface ExperimentRunner {
  readonly kind: 'docker' | 'local';
  /** Which hardware endpoint this runner needs. */
  readonly endpoint: 'unix' | 'tcp';
  /** Checks the engine (and image); the result is what /api/status shows. */
  probe(): Promise<RunnerInfoBody>;
  info(): RunnerInfoBody;
  /**
   * Image name and digest recorded in status.json and the manifest (null for the local runner), and what the image
   * says it holds (its org.bioreactor.packages label), recorded in the manifest as image_packages.
   */
  image(): Promise<{ image: string | null; digest: string | null; packages?: Record<string, string> | null }>;
  start(spec: RunSpec): Promise<RunHandle>;
  /**
   * Finds a run that was live when the node stopped: a handle to follow it (still running or already ended), or
   * null when it is gone without a trace.
   */
  reattach(ref: string, spec: RunSpec): Promise<RunHandle | null>;
  /** Ends what reattach cannot follow (a local process orphaned by a crashed node). */
  abandon?(ref: string, spec: RunSpec): Promise<void>;
  /** The ref a run's process would have if it was made but never recorded (the Docker container's name). */
  refFor?(experimentId: string): string;
  /**
   * Removes every run process of this node but those in `keep` (containers left by a crash, or by a run recorded as
   * ended); resolves with a description of each removed.
   */
  sweep?(keep: readonly string[]): Promise<string[]>;
}
