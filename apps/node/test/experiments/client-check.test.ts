// The experiment image's bioreactor_client against the node's: the label runtime/client_label.py writes, the same
// hash computed by the node from its python/src, and the refusals with their reasons.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLIENT_API_LEVEL } from '@bioreactor/api';
import Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import {
  CLIENT_LABEL,
  clientHash,
  clientRefusal,
  expectedClient,
  parseClientLabel,
} from '../../src/runner/client-check.js';
import { DockerRunner } from '../../src/runner/docker-runner.js';
import { tempDataDir, whyNoDocker } from './helpers.js';

const ROOT = join(import.meta.dirname, '../../../..');
const HASH = 'a'.repeat(32);
const want = { api: 2, sha256: HASH, source: '/repo/python/src/bioreactor_client' };

describe('the experiment image’s bioreactor_client', () => {
  it('the label runtime/client_label.py writes is what the node computes of its own python/src', () => {
    const label = execFileSync('python3', [join(ROOT, 'runtime', 'client_label.py')], { encoding: 'utf8' }).trim();
    const client = parseClientLabel(label);
    expect(client).toEqual({ version: '3.0.0', api: CLIENT_API_LEVEL, sha256: clientHash(ROOT) });
    expect(expectedClient()).toMatchObject({ api: CLIENT_API_LEVEL, sha256: clientHash(ROOT) });
    // The Python client states the API level the node's contract asks for.
    const init = readFileSync(join(ROOT, 'python', 'src', 'bioreactor_client', '__init__.py'), 'utf8');
    expect(Number(/^__api_level__ = (\d+)/m.exec(init)?.[1])).toBe(CLIENT_API_LEVEL);
  });

  it('refuses an image without the label, with an older client, or with another client than the node’s, saying why', () => {
    expect(clientRefusal('img', undefined, want)).toMatch(/does not say which bioreactor_client it holds.*rebuild it/);
    expect(clientRefusal('img', 'garbage', want)).toMatch(/does not say/);
    expect(clientRefusal('img', `version=2.9.0 api=1 sha256=${HASH}`, want)).toMatch(
      /holds bioreactor_client 2\.9\.0 at API level 1, older than this node's API \(level 2\): rebuild it/,
    );
    expect(clientRefusal('img', `version=3.0.0 api=2 sha256=${'b'.repeat(32)}`, want)).toMatch(
      /other than this node's \/repo\/python\/src\/bioreactor_client \(sha256 a{32}\)/,
    );
    expect(clientRefusal('img', `version=3.0.0 api=2 sha256=${HASH}`, want)).toBeNull();
    // A node without the repository's python/src (its own image) checks the API level only.
    expect(clientRefusal('img', `version=3.0.1 api=3 sha256=${'c'.repeat(32)}`, { ...want, sha256: null })).toBeNull();
  });

  it('the runner reports the refusal as why Docker is unavailable (/api/status runner.detail)', async () => {
    const engine = (labels: Record<string, string>) =>
      ({
        version: async () => ({ Version: '20.10.24' }),
        getImage: () => ({ inspect: async () => ({ Id: `sha256:${'a'.repeat(64)}`, Config: { Labels: labels } }) }),
      }) as unknown as Docker;
    const stale = new DockerRunner({
      image: 'bioreactor-experiment',
      dataDir: tempDataDir(),
      docker: engine({ [CLIENT_LABEL]: `version=3.0.0 api=1 sha256=${HASH}` }),
      client: want,
    });
    const info = await stale.probe();
    expect(info.available).toBe(false);
    expect(info.detail).toMatch(
      /^Docker engine 20\.10\.24; image bioreactor-experiment holds bioreactor_client 3\.0\.0/,
    );
    expect((await stale.image()).digest).toBeNull();
    const fits = new DockerRunner({
      image: 'bioreactor-experiment',
      dataDir: tempDataDir(),
      docker: engine({ [CLIENT_LABEL]: `version=3.0.0 api=2 sha256=${HASH}` }),
      client: want,
    });
    expect(await fits.probe()).toMatchObject({
      available: true,
      detail: expect.stringMatching(/bioreactor_client 3\.0\.0 \(API level 2\)/),
    });
  });
});

const IMAGE = process.env.BIOREACTOR_EXPERIMENT_IMAGE ?? 'bioreactor-experiment';
const skipReason = await whyNoDocker(IMAGE);
if (skipReason) console.warn(`Skipping the experiment image's client checks on the engine: ${skipReason}`);

describe.skipIf(skipReason !== null)('the experiment image on the engine', () => {
  it('the image built from this repository holds this repository’s client', async () => {
    const info = await new DockerRunner({ image: IMAGE, dataDir: tempDataDir() }).probe();
    expect(info.detail).toMatch(/bioreactor_client 3\.0\.0 \(API level 2\)/);
    expect(info.available).toBe(true);
  });

  it('an image that names its client in /opt/bioreactor/client.txt (runtime/Dockerfile) is read without running it', async () => {
    const docker = new Docker();
    const tag = `bioreactor-client-file-test:${process.pid}`;
    const base = await docker.createContainer({ Image: IMAGE, Entrypoint: ['/bin/true'], Cmd: [] });
    try {
      // A one-file tar: the line runtime/client_label.py would write, of an older client.
      const line = Buffer.from(`version=2.0.0 api=1 sha256=${HASH}\n`);
      const header = Buffer.alloc(512);
      header.write('client.txt', 0);
      header.write('0000644\0', 100);
      header.write('0000000\0', 108);
      header.write('0000000\0', 116);
      header.write(`${line.length.toString(8).padStart(11, '0')}\0`, 124);
      header.write('00000000000\0', 136);
      header.write('        ', 148);
      header.write('0', 156);
      header.write('ustar\0', 257);
      header.write('00', 263);
      const sum = header.reduce((a, b) => a + b, 0);
      header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
      const body = Buffer.concat([line, Buffer.alloc(512 - line.length), Buffer.alloc(1024)]);
      await base.putArchive(Buffer.concat([header, body]), { path: '/opt/bioreactor' });
      // The build-image label cleared, so only the file says which client this is.
      await base.commit({
        repo: tag.split(':')[0],
        tag: tag.split(':')[1],
        changes: ['LABEL org.bioreactor.client=""'],
      });
      const info = await new DockerRunner({ image: tag, dataDir: tempDataDir() }).probe();
      expect(info.available).toBe(false);
      expect(info.detail).toMatch(/holds bioreactor_client 2\.0\.0 at API level 1, older than this node's API/);
      const left = await docker.listContainers({ all: true, filters: { ancestor: [tag] } });
      expect(left, 'the container it read the file from is removed').toEqual([]);
    } finally {
      await base.remove({ force: true }).catch(() => {});
      await docker
        .getImage(tag)
        .remove({ force: true })
        .catch(() => {});
    }
  });
});
