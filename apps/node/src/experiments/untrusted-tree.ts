// Reading a folder that an experiment script can write (a run's output/). The script may replace any entry there at
// any moment with a symbolic link (to /etc, to /proc/self/environ), a FIFO, a directory or another file, so nothing in
// it is opened by a path the node listed earlier. Each directory is opened as a handle, and its entries relative to
// that handle with O_NOFOLLOW: Linux's /proc/self/fd/<fd>/<name> resolves the handle's own directory even if the
// script renamed it, which is openat(2) (Node has no openat). What was opened is then checked by fstat: its type, and
// its device (the output folder's filesystem; a bind mount or another filesystem inside is not followed).
import { type Dirent, constants as fs } from 'node:fs';
import { type FileHandle, lstat, open, readdir } from 'node:fs/promises';

/** Folders deeper than this are not walked (a script can nest folders far beyond any real need). */
export const MAX_DEPTH = 32;
/** Longest entry name in bytes (Linux NAME_MAX, limits.h). */
const NAME_MAX = 255;
/** Longest path inside output/ in bytes, so an entry keeps a usable name in a zip on every desktop system. */
export const MAX_PATH_BYTES = 1024;

const DIR_FLAGS = fs.O_RDONLY | fs.O_DIRECTORY | fs.O_NOFOLLOW;
// O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer for ever. O_NOCTTY: a terminal device
// never becomes the node's controlling terminal.
const FILE_FLAGS = fs.O_RDONLY | fs.O_NOFOLLOW | fs.O_NONBLOCK | fs.O_NOCTTY;

/** An entry of output/ that the node does not serve, and why (listed in the download's manifest). */
export interface LeftOut {
  path: string;
  reason: string;
}

/** Thrown when an entry cannot be opened safely; `reason` is what the manifest says. */
export class UnsafeEntry extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters (C0, DEL, C1) are what it finds.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/**
 * Why an entry name cannot be served (null when it can): a name that is not UTF-8, has a control character (C0, DEL
 * or C1) or a backslash (a folder separator to Windows and to zip readers; yazl refuses it), is `.`/`..`, or is longer
 * than NAME_MAX. The decoded name is returned when it is fine.
 */
export function checkName(raw: Buffer): { name: string } | { problem: string } {
  let name: string;
  try {
    name = UTF8.decode(raw);
  } catch {
    return { problem: 'its name is not valid UTF-8' };
  }
  if (name === '' || name === '.' || name === '..' || name.includes('/')) return { problem: 'its name is not a name' };
  if (name.search(CONTROL) >= 0) return { problem: 'its name has a control character' };
  if (name.includes('\\')) return { problem: 'its name has a backslash' };
  if (raw.length > NAME_MAX) return { problem: `its name is longer than ${NAME_MAX} bytes` };
  return { name };
}

/** A printable form of a raw name for the manifest (invalid bytes and control characters escaped). */
export function displayName(raw: Buffer): string {
  return raw
    .toString('utf8')
    .replaceAll('\ufffd', '\\ufffd')
    .replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

function kindOf(entry: {
  isSymbolicLink(): boolean;
  isFIFO(): boolean;
  isSocket(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
}): string {
  if (entry.isSymbolicLink()) return 'it is a symbolic link';
  if (entry.isFIFO()) return 'it is a FIFO';
  if (entry.isSocket()) return 'it is a socket';
  if (entry.isCharacterDevice() || entry.isBlockDevice()) return 'it is a device node';
  return 'it is not a regular file';
}

/** An open directory of the untrusted tree; entries are opened relative to it, never by a path from the top. */
export class UntrustedDir {
  private constructor(
    private readonly handle: FileHandle,
    /** The device of output/ itself: entries elsewhere are not followed. */
    readonly dev: number,
    /** Path from output/ ('' for output/ itself), '/'-separated. */
    readonly path: string,
  ) {}

  /** Opens the top of the tree (the node created it; it must not be a link). Rejects when it does not exist. */
  static async open(path: string): Promise<UntrustedDir> {
    const handle = await open(path, DIR_FLAGS);
    const info = await handle.stat();
    return new UntrustedDir(handle, info.dev, '');
  }

  /** The openat(2) form of a child of this directory (see the file comment). */
  private at(name: Buffer | string): Buffer {
    return Buffer.concat([Buffer.from(`/proc/self/fd/${this.handle.fd}/`), Buffer.from(name)]);
  }

  childPath(name: string): string {
    return this.path === '' ? name : `${this.path}/${name}`;
  }

  /** Entries with raw (byte) names and their types as readdir saw them, sorted bytewise. */
  async entries(): Promise<Dirent<Buffer>[]> {
    const list = await readdir(this.at('.'), { withFileTypes: true, encoding: 'buffer' });
    return list.sort((a, b) => Buffer.compare(a.name, b.name));
  }

  /** A child folder, opened without following a link, on the same filesystem. */
  async openDir(name: Buffer | string): Promise<UntrustedDir> {
    let handle: FileHandle;
    try {
      handle = await open(this.at(name), DIR_FLAGS);
    } catch (err) {
      throw unsafeFromError(err, 'folder');
    }
    const info = await handle.stat();
    if (info.dev !== this.dev) {
      await handle.close();
      throw new UnsafeEntry('it is on another filesystem');
    }
    return new UntrustedDir(handle, this.dev, this.childPath(Buffer.from(name).toString('utf8')));
  }

  /**
   * A child regular file, opened without following a link and checked after opening (type, device), so what is
   * read is what was checked. The caller closes the handle. Throws UnsafeEntry with the reason otherwise.
   */
  async openFile(name: Buffer | string): Promise<{ handle: FileHandle; size: number }> {
    let handle: FileHandle;
    try {
      handle = await open(this.at(name), FILE_FLAGS);
    } catch (err) {
      throw unsafeFromError(err, 'file');
    }
    try {
      const info = await handle.stat();
      if (!info.isFile()) throw new UnsafeEntry(info.isDirectory() ? 'it became a folder' : kindOf(info));
      if (info.dev !== this.dev) throw new UnsafeEntry('it is on another filesystem');
      return { handle, size: info.size };
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  /** Size of a child regular file without opening it (lstat: a link is not followed), or null if it is not one. */
  async fileSize(name: Buffer): Promise<number | null> {
    try {
      const info = await lstat(this.at(name));
      return info.isFile() ? info.size : null;
    } catch {
      return null;
    }
  }

  /** Inode of a child (lstat: a link is its own inode), or null when it is gone. */
  async inode(name: Buffer): Promise<number | null> {
    return lstat(this.at(name)).then(
      (info) => info.ino,
      () => null,
    );
  }

  async close(): Promise<void> {
    await this.handle.close().catch(() => undefined);
  }
}

function unsafeFromError(err: unknown, what: 'file' | 'folder'): UnsafeEntry {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ELOOP') return new UnsafeEntry('it is a symbolic link');
  if (code === 'ENOENT') return new UnsafeEntry('it was removed while being read');
  if (code === 'ENOTDIR') return new UnsafeEntry(`it is no longer a ${what}`);
  if (code === 'ENXIO' || code === 'ENODEV') return new UnsafeEntry('it is a device node or socket');
  if (code === 'EACCES' || code === 'EPERM') return new UnsafeEntry('the node may not read it');
  return new UnsafeEntry(`it could not be opened (${code ?? (err as Error).message})`);
}

/** One step of a walk: a regular file (its folder is open until the walk moves on), or an entry left out. */
export type WalkEntry =
  | { kind: 'file'; path: string; dir: UntrustedDir; name: Buffer }
  | { kind: 'left_out'; path: string; reason: string };

export interface WalkOptions {
  /** Entries (files, folders and anything else) counted before the walk stops; the rest is one 'left_out'. */
  maxEntries: number;
  /**
   * Top-level names the node serves itself: left out with the reason, or silently when the entry is the node's own
   * file (its inode, as the hard link output/container_logs.txt is).
   */
  reserved?: Map<string, { reason: string; ino?: number }>;
}

/**
 * Walks the tree depth first in bytewise name order, yielding regular files (to be opened with `dir.openFile(name)`
 * while the walk waits at the yield) and everything it leaves out with the reason. Never follows a link.
 * Returns the number of entries seen.
 */
export async function* walk(root: UntrustedDir, opts: WalkOptions): AsyncGenerator<WalkEntry, number> {
  let seen = 0;
  let stopped = false;
  let beyond = 0;
  async function* visit(dir: UntrustedDir, depth: number): AsyncGenerator<WalkEntry> {
    let entries: Dirent<Buffer>[];
    try {
      entries = await dir.entries();
    } catch (err) {
      yield { kind: 'left_out', path: dir.path || '.', reason: unsafeFromError(err, 'folder').reason };
      return;
    }
    for (const entry of entries) {
      if (stopped) {
        beyond += 1;
        continue;
      }
      seen += 1;
      if (seen > opts.maxEntries) {
        stopped = true;
        beyond += 1;
        continue;
      }
      const checked = checkName(entry.name);
      if ('problem' in checked) {
        yield { kind: 'left_out', path: dir.childPath(displayName(entry.name)), reason: checked.problem };
        continue;
      }
      const path = dir.childPath(checked.name);
      if (Buffer.byteLength(path) > MAX_PATH_BYTES) {
        yield {
          kind: 'left_out',
          path: `${path.slice(0, 200)}…`,
          reason: `its path is longer than ${MAX_PATH_BYTES} bytes`,
        };
        continue;
      }
      const reserved = depth === 0 ? opts.reserved?.get(checked.name) : undefined;
      if (reserved) {
        if (reserved.ino === undefined || (await dir.inode(entry.name)) !== reserved.ino) {
          yield { kind: 'left_out', path, reason: reserved.reason };
        }
        continue;
      }
      if (entry.isDirectory()) {
        if (depth + 1 > MAX_DEPTH) {
          yield { kind: 'left_out', path, reason: `it is nested deeper than ${MAX_DEPTH} folders` };
          continue;
        }
        let child: UntrustedDir;
        try {
          child = await dir.openDir(entry.name);
        } catch (err) {
          yield { kind: 'left_out', path, reason: (err as UnsafeEntry).reason ?? String(err) };
          continue;
        }
        try {
          yield* visit(child, depth + 1);
        } finally {
          await child.close();
        }
      } else if (entry.isFile()) {
        yield { kind: 'file', path, dir, name: entry.name };
      } else {
        yield { kind: 'left_out', path, reason: kindOf(entry) };
      }
    }
  }
  yield* visit(root, 0);
  if (beyond > 0) {
    yield {
      kind: 'left_out',
      path: `(${beyond} more entries)`,
      reason: `the run's output is limited to ${opts.maxEntries} files and folders (BIOREACTOR_EXPERIMENT_OUTPUT_FILES)`,
    };
  }
  return seen;
}

/** What the output tree holds, for its caps: regular files' bytes, and entries of every kind. */
export interface TreeUsage {
  bytes: number;
  entries: number;
}

/**
 * Counts bytes and entries, stopping as soon as either passes its cap (so a flood of files costs one bounded walk).
 * Links are counted as entries and never followed.
 */
export async function measure(path: string, caps: { bytes: number; entries: number }): Promise<TreeUsage> {
  const usage: TreeUsage = { bytes: 0, entries: 0 };
  let root: UntrustedDir;
  try {
    root = await UntrustedDir.open(path);
  } catch {
    return usage;
  }
  try {
    const files = walk(root, { maxEntries: caps.entries });
    for (;;) {
      const step = await files.next();
      if (step.done) {
        usage.entries = step.value;
        break;
      }
      const entry = step.value;
      if (entry.kind !== 'file') continue;
      usage.bytes += (await entry.dir.fileSize(entry.name)) ?? 0;
      if (usage.bytes > caps.bytes) {
        await files.return(0);
        break;
      }
    }
  } finally {
    await root.close();
  }
  return usage;
}

/**
 * Opens `output/<relative>` safely: every folder on the way and the file itself without following links. Throws
 * UnsafeEntry when any part is missing, a link, or not what it should be.
 */
export async function openTreeFile(rootPath: string, relative: string): Promise<{ handle: FileHandle; size: number }> {
  const parts = relative.split('/');
  let dir: UntrustedDir;
  try {
    dir = await UntrustedDir.open(rootPath);
  } catch {
    throw new UnsafeEntry('the output folder does not exist');
  }
  const opened: UntrustedDir[] = [dir];
  try {
    for (const part of parts.slice(0, -1)) {
      dir = await dir.openDir(part);
      opened.push(dir);
    }
    return await dir.openFile(parts[parts.length - 1] ?? '');
  } finally {
    for (const d of opened) await d.close();
  }
}
