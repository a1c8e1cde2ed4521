// User accounts (name + scrypt password hash) kept in <config>/accounts.json; the admin comes from configuration.
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiError } from '@bioreactor/api';
import { StartupRefused } from '../startup-refused.js';
import { writeJsonFile } from '../store/json-file.js';

export const ACCOUNTS_FILE = 'accounts.json';
export const USERNAME_PATTERN = /^[A-Za-z0-9_.-]{3,32}$/;
export const MIN_PASSWORD_LENGTH = 8;

// OWASP's scrypt floor is N=2^17 with r=8; 2^15 keeps a sign-in under ~100 ms on a Raspberry Pi 5 while still
// costing an attacker 32 MiB per guess.
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, keylen: 32, maxmem: 64 * 1024 * 1024 } as const;

interface StoredAccount {
  username: string;
  password_hash: string;
  created_at: string;
  /** Given by the lab manager; absent: `user`. */
  role?: 'user' | 'admin';
  /** Set by the lab manager: the account cannot sign in and its sessions end. Absent: enabled. */
  disabled?: boolean;
}

/** An account as the lab manager's users page lists it. */
export interface AccountSummary {
  username: string;
  role: 'user' | 'admin';
  disabled: boolean;
  created_at: string | null;
  /** The admin of BIOREACTOR_ADMIN_USER / BIOREACTOR_ADMIN_PASSWORD: changed in the configuration only. */
  configured: boolean;
}

export interface Account {
  username: string;
  role: 'user' | 'admin';
}

/**
 * What a sign-in is bound to: it changes whenever the account's password does (a user's new hash, a new
 * BIOREACTOR_ADMIN_PASSWORD), which signs out every session of the account. Secret: only ever sent out as an HMAC.
 */
export interface AccountCredential {
  account: Account;
  secret: string;
}

function derive(password: string, salt: Buffer, n: number, r: number, p: number, keylen: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password, salt, keylen, { N: n, r, p, maxmem: SCRYPT.maxmem }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

/** `scrypt$N$r$p$salt$hash` (base64url), so the parameters can be raised later without breaking old hashes. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, SCRYPT.N, SCRYPT.r, SCRYPT.p, SCRYPT.keylen);
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [kind, n, r, p, salt, hash] = stored.split('$');
  if (kind !== 'scrypt' || !n || !r || !p || !salt || !hash) return false;
  const want = Buffer.from(hash, 'base64url');
  const got = await derive(password, Buffer.from(salt, 'base64url'), Number(n), Number(r), Number(p), want.length);
  return got.length === want.length && timingSafeEqual(got, want);
}

export class AccountStore {
  private readonly path: string;
  private adminHash: Promise<string> | undefined;
  /** Serialises writers so two sign-ups never overwrite each other's file. */
  private writing: Promise<unknown> = Promise.resolve();

  /**
   * Reads the accounts file at once: a missing file is a fresh start, but one that exists and cannot be read (empty,
   * not JSON, not a list of accounts, no permission) refuses the start (StartupRefused) rather than run with no
   * accounts, which the next sign-up would make permanent by writing the file anew.
   */
  constructor(
    configDir: string,
    private readonly admin: { username: string; password: string | undefined },
  ) {
    this.path = join(configDir, ACCOUNTS_FILE);
    this.load();
  }

  private load(): StoredAccount[] {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return [];
      if (code === 'EACCES' || code === 'EPERM')
        throw this.refuse(`cannot be read (${code}: check that the web server's user may read it)`);
      throw this.refuse(`cannot be read (${code ?? (err as Error).message})`);
    }
    if (text.length === 0) throw this.refuse('is empty (0 bytes)');
    let data: { accounts?: unknown };
    try {
      data = JSON.parse(text) as { accounts?: unknown };
    } catch (err) {
      throw this.refuse(`is not valid JSON (${(err as Error).message})`);
    }
    const list = data?.accounts;
    const valid = (a: Partial<StoredAccount> | null) =>
      typeof a?.username === 'string' && typeof a.password_hash === 'string';
    if (!Array.isArray(list) || !list.every(valid))
      throw this.refuse('does not hold {"accounts": [{username, password_hash, created_at}, …]}');
    return list as StoredAccount[];
  }

  private refuse(problem: string): StartupRefused {
    return new StartupRefused(
      `the accounts file ${this.path} ${problem}; the web server does not start without its accounts. Restore the ` +
        'file from the latest backup made by scripts/backup.sh: in the installation folder run ' +
        '`tar -xzf bioreactor_backup_YYYYMMDD.tar.gz web-server/config/accounts.json` (or ' +
        '`scripts/restore.sh bioreactor_backup_YYYYMMDD.tar.gz` to restore every data folder of that backup), then ' +
        'start the web server again. To start with no accounts instead, delete the file.',
    );
  }

  get adminConfigured(): boolean {
    return this.admin.password !== undefined;
  }

  async create(username: string, password: string): Promise<Account> {
    if (!USERNAME_PATTERN.test(username))
      throw new ApiError('VALIDATION_FAILED', 'Choose a user name of 3-32 letters, digits, "_", "." or "-"', [
        { field: 'username', message: 'user name must be 3-32 letters, digits, "_", "." or "-"' },
      ]);
    if (password.length < MIN_PASSWORD_LENGTH)
      throw new ApiError('VALIDATION_FAILED', `Choose a password of at least ${MIN_PASSWORD_LENGTH} characters`, [
        { field: 'password', message: `password must have at least ${MIN_PASSWORD_LENGTH} characters` },
      ]);
    const hash = await hashPassword(password);
    const job = this.writing.then(() => {
      const accounts = this.load();
      const taken =
        username.toLowerCase() === this.admin.username.toLowerCase() ||
        accounts.some((a) => a.username.toLowerCase() === username.toLowerCase());
      if (taken) throw new ApiError('INVALID_STATE', `The user name "${username}" is taken; choose another or sign in`);
      accounts.push({ username, password_hash: hash, created_at: new Date().toISOString() });
      writeJsonFile(this.path, { accounts }, 0o600);
    });
    this.writing = job.catch(() => undefined);
    await job;
    return { username, role: 'user' };
  }

  /** The account when name and password match; the same refusal for a wrong name or a wrong password. */
  async authenticate(username: string, password: string): Promise<Account> {
    const refuse = () => new ApiError('UNAUTHORIZED', 'Wrong user name or password; check both and try again');
    if (this.admin.password !== undefined && username === this.admin.username) {
      this.adminHash ??= hashPassword(this.admin.password);
      if (await verifyPassword(password, await this.adminHash)) return { username, role: 'admin' };
      throw refuse();
    }
    const found = this.load().find((a) => a.username === username);
    // Hash anyway for an unknown name, so timing does not reveal which names exist.
    const ok = await verifyPassword(password, found?.password_hash ?? (await this.dummyHash()));
    if (!found || !ok) throw refuse();
    // Said only to whoever knows the password: the name alone reveals nothing.
    if (found.disabled)
      throw new ApiError('FORBIDDEN', 'This account is disabled; ask the lab manager to enable it again');
    return { username: found.username, role: found.role ?? 'user' };
  }

  /** A signed-in name's account and credential, if it still exists (a deleted account's cookie stops working). */
  credential(username: string): AccountCredential | undefined {
    if (this.admin.password !== undefined && username === this.admin.username)
      return { account: { username, role: 'admin' }, secret: `admin\n${this.admin.password}` };
    const found = this.load().find((a) => a.username === username);
    // A disabled account has no credential: every cookie of it stops counting at its next request.
    if (!found || found.disabled) return undefined;
    const role = found.role ?? 'user';
    // The admin role is part of what a sign-in is bound to: giving it or taking it away ends the account's sessions
    // (a user's credential stays the bare hash, as sign-ins made before roles existed were bound to it).
    const secret = role === 'admin' ? `${found.password_hash}\nadmin` : found.password_hash;
    return { account: { username: found.username, role }, secret };
  }

  /** Every account, the configured admin first. */
  list(): AccountSummary[] {
    const admin: AccountSummary[] =
      this.admin.password === undefined
        ? []
        : [{ username: this.admin.username, role: 'admin', disabled: false, created_at: null, configured: true }];
    return [
      ...admin,
      ...this.load().map((a) => ({
        username: a.username,
        role: a.role ?? ('user' as const),
        disabled: a.disabled === true,
        created_at: a.created_at ?? null,
        configured: false,
      })),
    ];
  }

  /** The lab manager changes an account's role or disables it (its sessions end at their next request). */
  async update(username: string, change: { role?: 'user' | 'admin'; disabled?: boolean }): Promise<AccountSummary> {
    if (this.admin.password !== undefined && username === this.admin.username)
      throw new ApiError(
        'FORBIDDEN',
        'The configured admin (BIOREACTOR_ADMIN_USER) is changed in the configuration, not here',
      );
    const job = this.writing.then(() => {
      const accounts = this.load();
      const found = accounts.find((a) => a.username === username);
      if (!found) throw new ApiError('NOT_FOUND', `No account named "${username}"`);
      if (change.role !== undefined) {
        if (change.role === 'user') delete found.role;
        else found.role = change.role;
      }
      if (change.disabled !== undefined) {
        if (change.disabled) found.disabled = true;
        else delete found.disabled;
      }
      writeJsonFile(this.path, { accounts }, 0o600);
      return found;
    });
    this.writing = job.catch(() => undefined);
    const found = await job;
    return {
      username: found.username,
      role: found.role ?? 'user',
      disabled: found.disabled === true,
      created_at: found.created_at ?? null,
      configured: false,
    };
  }

  /**
   * Replaces a user's password after checking the current one. The admin's comes from BIOREACTOR_ADMIN_PASSWORD and
   * is changed there. The new hash changes the account's credential, so every session signed in before is revoked.
   */
  async changePassword(username: string, current: string, next: string): Promise<Account> {
    if (this.admin.password !== undefined && username === this.admin.username)
      throw new ApiError(
        'FORBIDDEN',
        'The admin password is set by BIOREACTOR_ADMIN_PASSWORD: change it there and restart the web server (every admin session is then signed out)',
      );
    if (next.length < MIN_PASSWORD_LENGTH)
      throw new ApiError('VALIDATION_FAILED', `Choose a new password of at least ${MIN_PASSWORD_LENGTH} characters`, [
        { field: 'new_password', message: `password must have at least ${MIN_PASSWORD_LENGTH} characters` },
      ]);
    if (next === current)
      throw new ApiError('VALIDATION_FAILED', 'Choose a new password different from the current one', [
        { field: 'new_password', message: 'the new password is the current one' },
      ]);
    const found = this.load().find((a) => a.username === username);
    if (!found || !(await verifyPassword(current, found.password_hash)))
      throw new ApiError('UNAUTHORIZED', 'The current password is wrong; check it and try again');
    const hash = await hashPassword(next);
    const job = this.writing.then(() => {
      const accounts = this.load();
      const mine = accounts.find((a) => a.username === username);
      // Another change won the race: the password checked above is no longer the account's.
      if (mine?.password_hash !== found.password_hash)
        throw new ApiError('INVALID_STATE', 'The password was changed meanwhile; sign in again and retry');
      mine.password_hash = hash;
      writeJsonFile(this.path, { accounts }, 0o600);
      return mine.role ?? 'user';
    });
    this.writing = job.catch(() => undefined);
    return { username, role: await job };
  }

  private dummy: Promise<string> | undefined;
  private dummyHash(): Promise<string> {
    this.dummy ??= hashPassword(randomBytes(12).toString('hex'));
    return this.dummy;
  }
}
