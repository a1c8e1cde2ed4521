// What the experiment image holds (its org.bioreactor.packages label, written by runtime/build-image.sh and
// runtime/Dockerfile) is read when the runner probes the image, kept with the run and written to its manifest.
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import { buildDownload } from '../../src/experiments/download.js';
import type { HardwareGateway } from '../../src/experiments/hardware-gateway.js';
import { ExperimentManager } from '../../src/experiments/manager.js';
import { ExperimentStore } from '../../src/experiments/store.js';
import { CLIENT_LABEL } from '../../src/runner/client-check.js';
import { DockerRunner, PACKAGES_LABEL, parsePackagesLabel } from '../../src/runner/docker-runner.js';
import type { ExperimentRunner, RunExit, RunHandle, RunnerInfoBody } from '../../src/runner/runner.js';
import { RecordingHardware, tempDataDir, unzip } from './helpers.js';

const LABEL = 'python==3.11.2 numpy==1.24.2 scikit-learn==1.2.1 pillow==9.4.0';
const PACKAGES = { python: '3.11.2', numpy: '1.24.2', 'scikit-learn': '1.2.1', pillow: '9.4.0' };

/** A Docker engine that answers only what probe() asks: its version and the image. */
function engine(labels: Record<string, string> | undefined): Docker {
  return {
    version: async () => ({ Version: '20.10.24' }),
    getImage: () => ({ inspect: async () => ({ Id: `sha256:${'a'.repeat(64)}`, Config: { Labels: labels } }) }),
  } as unknown as Docker;
}

describe('the experiment image packages', () => {
  it('reads the label as name → version', () => {
    expect(parsePackagesLabel(LABEL)).toEqual(PACKAGES);
    expect(parsePackagesLabel(`  ${LABEL.replaceAll(' ', '\n')}  `)).toEqual(PACKAGES);
    expect(parsePackagesLabel(undefined)).toBeNull();
    expect(parsePackagesLabel('')).toBeNull();
    expect(parsePackagesLabel('no-version-here')).toBeNull();
  });

  it('are what the runner reports for the image it probed, and null for an image without the label', async () => {
    // The image also names its bioreactor_client, which the node checks (client-check.test.ts).
    const client = { api: 2, sha256: 'a'.repeat(32), source: null };
    const labelled = new DockerRunner({
      image: 'x',
      dataDir: tempDataDir(),
      docker: engine({ [PACKAGES_LABEL]: LABEL, [CLIENT_LABEL]: `version=3.0.0 api=2 sha256=${'a'.repeat(32)}` }),
      client,
    });
    expect((await labelled.probe()).available).toBe(true);
    expect(await labelled.image()).toMatchObject({ digest: expect.stringMatching(/^sha256:/), packages: PACKAGES });

    const older = new DockerRunner({ image: 'x', dataDir: tempDataDir(), docker: engine(undefined) });
    await older.probe();
    expect((await older.image()).packages).toBeNull();
  });

  it('are recorded in the run’s manifest.json', async () => {
    const runner: ExperimentRunner = {
      kind: 'local',
      endpoint: 'tcp',
      info: (): RunnerInfoBody => ({ kind: 'local', available: true, detail: 'test runner' }),
      probe: async () => ({ kind: 'local', available: true, detail: 'test runner' }),
      image: async () => ({ image: 'bioreactor-experiment', digest: `sha256:${'b'.repeat(64)}`, packages: PACKAGES }),
      start: async (): Promise<RunHandle> => {
        const exit: RunExit = { exitCode: 0, oomKilled: false };
        return {
          ref: 'done',
          output: (async function* () {
            yield { data: Buffer.from('ran\n') };
          })(),
          wait: async () => exit,
          stop: async () => {},
          release: async () => {},
        };
      },
      reattach: async () => null,
    };
    const dataDir = tempDataDir();
    const store = new ExperimentStore(dataDir);
    const gateway: HardwareGateway = { endpoint: { kind: 'tcp', url: 'http://127.0.0.1:9' }, close: async () => {} };
    const manager = new ExperimentManager({
      store,
      runner,
      openGateway: async () => gateway,
      hardware: new RecordingHardware(),
      dataDir,
      nodeVersion: 'test',
      hardwareMode: 'simulation',
      limits: { memory_bytes: 1 << 26, cpus: 1, pids: 64, output_bytes: 1 << 20, log_bytes: 1 << 20 },
      maxDurationS: 60,
      stopGraceMs: 0,
      log: { info() {}, warn() {}, error() {} },
    });
    await manager.recover();
    const run = await manager.start({ script_content: 'print("ran")' });
    expect(await manager.settled(run.experiment_id)).toMatchObject({ status: 'completed' });

    const { stream } = await buildDownload(store, await store.load(run.experiment_id), undefined);
    const chunks: Buffer[] = [];
    for await (const chunk of stream as Readable) chunks.push(chunk as Buffer);
    const manifest = JSON.parse(unzip(Buffer.concat(chunks))['manifest.json'] ?? '{}');
    expect(manifest).toMatchObject({ image: 'bioreactor-experiment', image_packages: PACKAGES });
  });
});
