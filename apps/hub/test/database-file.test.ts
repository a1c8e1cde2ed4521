// A queue database that is lost must not look like a fresh start: an empty, damaged or foreign file stops the hub
// with one message naming the file and how to restore it, and is left as it is. A missing file is a fresh start.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { DATABASE_FILE } from '../src/hub.js';
import { DatabaseFileError } from '../src/queue/store.js';
import { GOOD_SCRIPT, makeHub } from './support/hub.js';
import { freePort, runHubToExit } from './support/hub-process.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'hub-dbfile-'));
  dirs.push(dir);
  return dir;
}

const build = (dir: string) =>
  buildApp(loadConfig({ DATA_DIR: dir, BIOREACTOR_NODE_API_URL: 'http://127.0.0.1:9', LOG_LEVEL: 'silent' }), {
    logger: false,
    noDispatch: true,
  });

/** A database with one queued experiment, closed cleanly. */
async function withOneExperiment(dir: string): Promise<string> {
  const h = await makeHub({ dir, noDispatch: true });
  const res = await h.app.inject({
    method: 'POST',
    url: '/api/experiments/start',
    headers: { 'x-session-id': 'alice', 'content-type': 'text/x-python' },
    payload: GOOD_SCRIPT,
  });
  expect(res.statusCode, res.body).toBe(200);
  await h.close();
  return res.json().experiment_id;
}

async function refusal(dir: string): Promise<DatabaseFileError> {
  const err = await build(dir).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DatabaseFileError);
  return err as DatabaseFileError;
}

describe('the hub database file', () => {
  it('refuses a zero-length file, naming it and the restore command, and leaves it as it is', async () => {
    const dir = dataDir();
    const file = join(dir, DATABASE_FILE);
    writeFileSync(file, '');
    const err = await refusal(dir);
    expect(err.message).toContain(file);
    expect(err.message).toMatch(/is empty \(0 bytes\)/);
    expect(err.message).toContain('scripts/restore.sh');
    expect(err.message).not.toContain('\n');
    expect(statSync(file).size).toBe(0);
  });

  it('refuses a file that is not a SQLite database', async () => {
    const dir = dataDir();
    const file = join(dir, DATABASE_FILE);
    writeFileSync(file, 'this was experiment_queue.json once\n'.repeat(100));
    const before = readFileSync(file);
    const err = await refusal(dir);
    expect(err.message).toMatch(/is not a SQLite database/);
    expect(err.message).toContain('scripts/restore.sh');
    expect(readFileSync(file).equals(before)).toBe(true);
  });

  it('refuses a database cut short (its header intact), as SQLite reports it damaged', async () => {
    const dir = dataDir();
    await withOneExperiment(dir);
    const file = join(dir, DATABASE_FILE);
    truncateSync(file, Math.floor(statSync(file).size / 2));
    const err = await refusal(dir);
    expect(err.message).toMatch(/is damaged/);
    expect(err.message).toContain('scripts/restore.sh');
  });

  it('refuses a folder in the database file’s place', async () => {
    const dir = dataDir();
    mkdirSync(join(dir, DATABASE_FILE));
    expect((await refusal(dir)).message).toMatch(/is not a file/);
  });

  it('starts on an existing database with its experiments, and on a missing one empty', async () => {
    const dir = dataDir();
    const id = await withOneExperiment(dir);
    const app = await build(dir);
    expect(app.hub.queue.get(id)?.status).toBe('queued');
    await app.close();

    const fresh = await build(join(dataDir(), 'not-yet'));
    expect(fresh.hub.queue.all()).toEqual([]);
    await fresh.close();
  });

  it('as a process: prints one line naming the file and how to restore it, no stack, and exits non-zero', {
    timeout: 60_000,
  }, async () => {
    const dir = dataDir();
    const file = join(dir, DATABASE_FILE);
    writeFileSync(file, '');
    const run = await runHubToExit({ DATA_DIR: dir, BIOREACTOR_NODE_API_URL: 'http://127.0.0.1:9' }, await freePort());
    expect(run.code).toBe(1);
    const lines = run.stderr.trim().split('\n');
    expect(lines, run.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^bioreactor-hub: not started: the queue database .* is empty/);
    expect(lines[0]).toContain(file);
    expect(lines[0]).toContain('scripts/restore.sh');
    expect(run.stderr).not.toMatch(/\n\s+at /);
    expect(run.stdout).not.toMatch(/Server listening/);
    expect(statSync(file).size).toBe(0);
  });
});
