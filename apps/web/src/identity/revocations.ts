// Signed-in sessions revoked on the server, kept in <config>/revoked_sessions.json so a restart does not bring them back.
//
// A sign-in cookie is valid for AUTH_MAX_AGE; a session signed out is listed until then, and no longer. Per account:
// `generation`, carried in every sign-in cookie of the account, and `revoked`, the signed-out sessions still within
// their lifetime. An account with more than MAX_REVOKED_PER_ACCOUNT of them has its generation raised instead, which
// revokes all its sessions at once, so the file stays small whatever a user (or a script) does.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { StartupRefused } from '../startup-refused.js';
import { writeJsonFile } from '../store/json-file.js';

export const REVOKED_FILE = 'revoked_sessions.json';
const MAX_REVOKED_PER_ACCOUNT = 200;

interface AccountSessions {
  generation: number;
  /** Session id → the time (ms) after which its sign-in cookie has expired anyway. */
  revoked: Map<string, number>;
}

interface StoredFile {
  accounts: Record<string, { generation: number; revoked: { session: string; until: number }[] }>;
}

export class SessionRevocations {
  readonly path: string;
  private readonly accounts = new Map<string, AccountSessions>();

  /** Reads the file now: one that exists but cannot be read refuses the start (StartupRefused). */
  constructor(
    configDir: string,
    private readonly now: () => number = Date.now,
  ) {
    this.path = join(configDir, REVOKED_FILE);
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw this.refuse(`cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    if (text.trim() === '') throw this.refuse('is empty');
    let data: StoredFile;
    try {
      data = JSON.parse(text) as StoredFile;
    } catch (err) {
      throw this.refuse(`is not valid JSON (${(err as Error).message})`);
    }
    if (typeof data?.accounts !== 'object' || data.accounts === null) throw this.refuse('has no "accounts" object');
    for (const [name, entry] of Object.entries(data.accounts)) {
      if (!Number.isInteger(entry?.generation) || !Array.isArray(entry.revoked))
        throw this.refuse(`has a malformed entry for "${name}"`);
      const revoked = new Map<string, number>();
      for (const r of entry.revoked) if (typeof r?.session === 'string') revoked.set(r.session, Number(r.until));
      this.accounts.set(name, { generation: entry.generation, revoked });
    }
  }

  private refuse(problem: string): StartupRefused {
    return new StartupRefused(
      `the list of signed-out sessions ${this.path} ${problem}. Restore it from the latest backup (scripts/backup.sh): ` +
        'stop the web server, run `tar -xzf bioreactor_backup_YYYYMMDD.tar.gz web-server/config/revoked_sessions.json` ' +
        'in the installation folder, and start it again; or delete the file, which makes sessions signed out in the ' +
        'last 30 days valid again',
    );
  }

  generation(username: string): number {
    return this.accounts.get(username)?.generation ?? 0;
  }

  isRevoked(username: string, sessionId: string): boolean {
    return this.accounts.get(username)?.revoked.has(sessionId) ?? false;
  }

  /** Revokes one signed-in session until `until` (ms), when its cookie expires anyway. */
  revoke(username: string, sessionId: string, until: number): void {
    const entry = this.accounts.get(username) ?? { generation: 0, revoked: new Map<string, number>() };
    entry.revoked.set(sessionId, until);
    if (entry.revoked.size > MAX_REVOKED_PER_ACCOUNT) {
      entry.generation++;
      entry.revoked.clear();
    }
    this.accounts.set(username, entry);
    this.save();
  }

  private save(): void {
    const now = this.now();
    const accounts: StoredFile['accounts'] = {};
    for (const [name, entry] of this.accounts) {
      for (const [session, until] of entry.revoked) if (!(until > now)) entry.revoked.delete(session);
      accounts[name] = {
        generation: entry.generation,
        revoked: [...entry.revoked].map(([session, until]) => ({ session, until })),
      };
    }
    writeJsonFile(this.path, { accounts }, 0o600);
  }
}
