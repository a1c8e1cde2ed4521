// A run's status.json saved several times at once (a program's start and its run's start do): every save succeeds
// and the last state asked for is the one on disk.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ExperimentStore, type StoredRun } from '../../src/experiments/store.js';
import { tempDataDir } from './helpers.js';

describe('the run store', () => {
  it('writes concurrent saves of one run in order, none failing on a shared temporary file', async () => {
    const store = new ExperimentStore(tempDataDir('bioreactor-store-'));
    await store.create('r1', 'print(1)\n');
    const run = { experiment_id: 'r1', status: 'starting' } as unknown as StoredRun;
    const saves = Array.from({ length: 20 }, (_, i) => store.save({ ...run, exit_code: i } as StoredRun));
    await expect(Promise.all(saves)).resolves.toHaveLength(20);
    const onDisk = JSON.parse(readFileSync(join(store.dir('r1'), 'status.json'), 'utf8'));
    expect(onDisk).toMatchObject({ experiment_id: 'r1', exit_code: 19 });
  });
});
