// scripts/backup.sh and scripts/restore.sh round trip: a backup taken while the data is being written restores to
// exactly what was there (files byte for byte, every committed database row), into the guide's folders, and a bad
// archive is refused before anything is touched. No Docker needed: the scripts work on folders, and a separate
// process commits to a WAL database the way the running hub does.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { repoRoot } from './docker.js';

const BACKUP = join(repoRoot, 'scripts/backup.sh');
const RESTORE = join(repoRoot, 'scripts/restore.sh');
const roots: string[] = [];
const children: ChildProcess[] = [];

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

function tempRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'bioreactor-backup-'));
  roots.push(root);
  return root;
}

function script(path: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('bash', [path, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, BIOREACTOR_DATA_ROOT: '' },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Every regular file under the guide's three folders with its SHA-256 (SQLite files and their journals excluded). */
function fileDigests(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const st = statSync(path);
      if (st.isDirectory()) walk(path);
      else if (!/\.db(-wal|-shm|-journal)?$/.test(name)) {
        out[relative(root, path)] = createHash('sha256').update(readFileSync(path)).digest('hex');
      }
    }
  };
  for (const dir of ['bioreactor-node-v3/data', 'bioreactor-hub/data', 'web-server/config']) {
    if (existsSync(join(root, dir))) walk(join(root, dir));
  }
  return out;
}

function seedFiles(root: string): void {
  const exp = join(root, 'bioreactor-node-v3/data/experiments/exp-1');
  mkdirSync(join(exp, 'output'), { recursive: true });
  writeFileSync(join(exp, 'user_script.py'), 'print("hello")\n');
  writeFileSync(
    join(exp, 'output/experiment_data.csv'),
    'timestamp,co2_ppm,temperature\n2026-01-25T20:35:11.103915,633.0,25.4\n',
  );
  writeFileSync(join(exp, 'output/container_logs.txt'), 'hello\n');
  mkdirSync(join(root, 'web-server/config'), { recursive: true });
  writeFileSync(join(root, 'web-server/config/dashboard_settings.json'), '{"update_interval":2}\n');
  mkdirSync(join(root, 'bioreactor-hub/data'), { recursive: true });
}

/** A separate process that commits one row at a time into a WAL database until killed, like the running hub. */
function startWriter(dbPath: string): ChildProcess {
  const code = `
    const Database = require('better-sqlite3');
    const db = new Database(process.argv[1]);
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, body TEXT NOT NULL)');
    const insert = db.prepare('INSERT INTO events (seq, body) VALUES (?, ?)');
    let seq = 0;
    const tick = () => { seq += 1; insert.run(seq, 'x'.repeat(200) + seq); setImmediate(tick); };
    process.stdout.write('ready\\n');
    tick();
  `;
  const child = spawn(process.execPath, ['-e', code, dbPath], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return child;
}

function committed(dbPath: string): number {
  const db = new Database(dbPath, { readonly: true, timeout: 5000 });
  try {
    return (db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

function rows(dbPath: string): number[] {
  const db = new Database(dbPath, { readonly: true });
  try {
    return (db.prepare('SELECT seq FROM events ORDER BY seq').all() as { seq: number }[]).map((r) => r.seq);
  } finally {
    db.close();
  }
}

describe('backup and restore', () => {
  it('round-trips a database under continuous writes and every file, into the guide’s folders', async () => {
    const root = tempRoot();
    seedFiles(root);
    const dbPath = join(root, 'bioreactor-hub/data/hub.db');
    const writer = startWriter(dbPath);
    await new Promise<void>((resolveReady) => writer.stdout?.once('data', () => resolveReady()));
    // Rows committed before the backup starts must all be in it.
    const before = await new Promise<number>((resolveCount) => {
      const poll = () => {
        const n = existsSync(dbPath) ? committed(dbPath) : 0;
        if (n >= 2000) resolveCount(n);
        else setTimeout(poll, 20);
      };
      poll();
    });
    // The hub owns its database as uid 1000 and a backup is often taken by root: the copy keeps owner and mode.
    const asRoot = process.getuid?.() === 0;
    if (asRoot) chownSync(dbPath, 1000, 1000);
    chmodSync(dbPath, 0o640);
    const out = join(root, 'backups');
    mkdirSync(out);
    const backup = script(BACKUP, ['--root', root, '--output', out]);
    writer.kill('SIGKILL');
    expect(backup.status, backup.stderr).toBe(0);
    const archive = backup.stdout.trim();
    expect(archive).toMatch(/bioreactor_backup_\d{8}\.tar\.gz$/);
    expect(backup.stderr).toContain('1 SQLite database(s) by online backup');

    // The guide's layout inside, and a self-contained database (no -wal beside it).
    const listing = spawnSync('tar', ['-tzf', archive], { encoding: 'utf8' }).stdout.split('\n');
    expect(listing).toEqual(
      expect.arrayContaining([
        'bioreactor-node-v3/data/experiments/exp-1/user_script.py',
        'bioreactor-hub/data/hub.db',
        'web-server/config/dashboard_settings.json',
      ]),
    );
    expect(listing.some((entry) => entry.endsWith('-wal'))).toBe(false);

    // Restore into a fresh installation that holds other data; nothing of that may survive, a safety copy keeps it.
    const target = tempRoot();
    mkdirSync(join(target, 'bioreactor-hub/data'), { recursive: true });
    writeFileSync(join(target, 'bioreactor-hub/data/hub.db-wal'), 'stale write-ahead log of another database');
    writeFileSync(join(target, 'bioreactor-hub/data/stray.txt'), 'not in the backup');
    const restore = script(RESTORE, ['--root', target, '--no-stop', archive]);
    expect(restore.status, restore.stderr).toBe(0);
    expect(existsSync(join(target, 'bioreactor-hub/data/stray.txt'))).toBe(false);
    expect(existsSync(join(target, 'bioreactor-hub/data/hub.db-wal'))).toBe(false);
    expect(readdirSync(target).some((n) => /^bioreactor_pre_restore_\d{8}_\d{6}\.tar\.gz$/.test(n))).toBe(true);

    const restoredRows = rows(join(target, 'bioreactor-hub/data/hub.db'));
    // Every row committed before the backup, in order, with no gap: a consistent snapshot, not a torn copy.
    expect(restoredRows.length).toBeGreaterThanOrEqual(before);
    expect(restoredRows.every((seq, i) => seq === i + 1)).toBe(true);
    const restoredDb = statSync(join(target, 'bioreactor-hub/data/hub.db'));
    expect(restoredDb.mode & 0o777).toBe(0o640);
    if (asRoot) expect([restoredDb.uid, restoredDb.gid]).toEqual([1000, 1000]);
    const check = new Database(join(target, 'bioreactor-hub/data/hub.db'), { readonly: true });
    expect(check.pragma('integrity_check', { simple: true })).toBe('ok');
    check.close();

    const original = fileDigests(root);
    expect(Object.keys(original)).toHaveLength(4);
    expect(fileDigests(target)).toEqual(original);
  }, 60_000);

  it('restores with the guide’s plain tar -xzf as well', () => {
    const root = tempRoot();
    seedFiles(root);
    const backup = script(BACKUP, ['--root', root]);
    expect(backup.status, backup.stderr).toBe(0);
    const target = tempRoot();
    const untar = spawnSync('tar', ['-xzf', backup.stdout.trim()], { cwd: target, encoding: 'utf8' });
    expect(untar.status, untar.stderr).toBe(0);
    expect(fileDigests(target)).toEqual(fileDigests(root));
  });

  it('refuses an archive that is not a backup of this system, touching nothing', () => {
    const root = tempRoot();
    seedFiles(root);
    const before = fileDigests(root);
    const foreign = join(tempRoot(), 'foreign.tar.gz');
    const src = tempRoot();
    mkdirSync(join(src, 'etc'));
    writeFileSync(join(src, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
    spawnSync('tar', ['-czf', foreign, '-C', src, 'etc']);

    const refused = script(RESTORE, ['--root', root, '--no-stop', foreign]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain("holds 'etc/'");
    expect(fileDigests(root)).toEqual(before);

    const truncated = join(tempRoot(), 'truncated.tar.gz');
    const backup = script(BACKUP, ['--root', root]);
    const bytes = readFileSync(backup.stdout.trim());
    writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const broken = script(RESTORE, ['--root', root, '--no-stop', truncated]);
    expect(broken.status).toBe(1);
    expect(broken.stderr).toContain('not an intact .tar.gz');
  });

  it('keeps only the newest backups with --keep', () => {
    const root = tempRoot();
    seedFiles(root);
    const out = join(root, 'backups');
    mkdirSync(out);
    for (const day of ['20260101', '20260102', '20260103'])
      writeFileSync(join(out, `bioreactor_backup_${day}.tar.gz`), day);
    const backup = script(BACKUP, ['--root', root, '--output', out, '--keep', '2']);
    expect(backup.status, backup.stderr).toBe(0);
    const left = readdirSync(out).filter((n) => n.startsWith('bioreactor_backup_'));
    expect(left).toHaveLength(2);
    expect(left).toContain(backup.stdout.trim().split('/').pop());
  });
});
