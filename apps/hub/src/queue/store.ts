// Opens the hub's SQLite database (WAL, full fsync) and applies the numbered migrations it has not seen yet. A database
// file that is there but empty, damaged or unreadable stops the hub: the queue it held must not look like a new one.
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

export type Db = Database.Database;

const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

/** Migration files are `NNN-what.sql`; the database's `user_version` is the last number applied. */
function migrations(): { version: number; file: string }[] {
  return readdirSync(MIGRATIONS_DIR)
    .filter((f) => /^\d{3}-[a-z0-9-]+\.sql$/.test(f))
    .map((file) => ({ version: Number.parseInt(file.slice(0, 3), 10), file }))
    .sort((a, b) => a.version - b.version);
}

/** The first 16 bytes of every SQLite 3 database file. */
const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');

/** How to get the queue back, in every message about a lost or damaged database. */
const RESTORE =
  'restore the latest backup with scripts/restore.sh bioreactor_backup_YYYYMMDD.tar.gz (docs/deployment.md, "Backup and recovery")';

/** The database file is there but cannot be used; the message names it and says how to get the queue back. */
export class DatabaseFileError extends Error {
  constructor(
    readonly path: string,
    problem: string,
    fix = `${RESTORE}, or, if this hub never held experiments, delete the file to start with an empty queue`,
  ) {
    super(`the queue database ${resolve(path)} ${problem}; ${fix}`);
    this.name = 'DatabaseFileError';
  }
}

function unreadable(path: string, err: NodeJS.ErrnoException): DatabaseFileError {
  return new DatabaseFileError(
    path,
    `cannot be read or written (${err.code ?? err.message})`,
    `give the hub's user (uid 1000 in the container) access to it and its folder, e.g. sudo chown -R 1000:1000 bioreactor-hub/data; if it is lost, ${RESTORE}`,
  );
}

/** Refuses, before SQLite sees it, a file that exists but is empty, not a file or not a SQLite database. */
function checkFile(path: string): void {
  let size: number;
  try {
    const stat = statSync(path);
    if (!stat.isFile()) throw new DatabaseFileError(path, 'is not a file');
    size = stat.size;
  } catch (err) {
    if (err instanceof DatabaseFileError) throw err;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // a fresh start
    throw unreadable(path, err as NodeJS.ErrnoException);
  }
  // SQLite opens a zero-length file as a new, empty database: the experiments it held would silently be gone.
  if (size === 0) throw new DatabaseFileError(path, 'is empty (0 bytes), so the experiments it held are lost');
  const header = Buffer.alloc(SQLITE_HEADER.length);
  let read = 0;
  try {
    const fd = openSync(path, 'r');
    try {
      read = readSync(fd, header, 0, header.length, 0);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    throw unreadable(path, err as NodeJS.ErrnoException);
  }
  if (read < header.length || !header.equals(SQLITE_HEADER))
    throw new DatabaseFileError(
      path,
      `is not a SQLite database (${size} bytes without the SQLite header): it is damaged`,
    );
}

/** SQLite's own word that the file is damaged or out of reach, as a DatabaseFileError; anything else as it is. */
function fileErrorOf(path: string, err: unknown): unknown {
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string') return err;
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT'))
    return new DatabaseFileError(path, `is damaged (SQLite: ${(err as Error).message})`);
  if (code.startsWith('SQLITE_CANTOPEN') || code.startsWith('SQLITE_READONLY') || code === 'SQLITE_PERM')
    return unreadable(path, { name: 'SqliteError', message: (err as Error).message, code } as NodeJS.ErrnoException);
  return err;
}

/** A value of the `meta` table (the hub's own bookkeeping: the timeline, the one-time import). */
export function readMeta(db: Db, key: string): string | undefined {
  const row = db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
  return row?.value;
}

export function writeMeta(db: Db, key: string, value: string): void {
  db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(
    key,
    value,
  );
}

export function openDatabase(path: string): Db {
  if (path === ':memory:') return migrate(new Database(path));
  checkFile(path);
  mkdirSync(dirname(path), { recursive: true });
  let db: Db | undefined;
  try {
    db = new Database(path);
    return migrate(db);
  } catch (err) {
    db?.close();
    throw fileErrorOf(path, err);
  }
}

function migrate(db: Db): Db {
  db.pragma('journal_mode = WAL');
  // FULL: a committed transition survives a power cut too, not only kill -9; the write rate is low.
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  // A file cut short or overwritten in part still has its header; SQLite finds the damage by reading every page.
  const check = db.pragma('quick_check', { simple: true });
  if (check !== 'ok') {
    const err = new Error(`quick_check: ${String(check)}`) as Error & { code: string };
    err.code = 'SQLITE_CORRUPT';
    throw err;
  }
  const current = db.pragma('user_version', { simple: true }) as number;
  for (const m of migrations()) {
    if (m.version <= current) continue;
    const sql = readFileSync(join(MIGRATIONS_DIR, m.file), 'utf8');
    db.transaction(() => {
      db.exec(sql);
      db.pragma(`user_version = ${m.version}`);
    })();
  }
  return db;
}
