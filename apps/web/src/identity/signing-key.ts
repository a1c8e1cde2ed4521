// The key that signs cookies: from BIOREACTOR_SESSION_SECRET, else generated once and kept in the config dir.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../store/json-file.js';

export const SECRET_FILE = 'session_secret';

export class SigningKey {
  private key: Buffer | undefined;

  constructor(
    private readonly configDir: string,
    private readonly configured: string | undefined,
  ) {}

  /** Loaded on first use, so building the app never writes to disk. */
  private get bytes(): Buffer {
    if (this.key) return this.key;
    if (this.configured) {
      this.key = Buffer.from(this.configured, 'utf8');
      return this.key;
    }
    const path = join(this.configDir, SECRET_FILE);
    try {
      const text = readFileSync(path, 'utf8').trim();
      if (text.length >= 32) {
        this.key = Buffer.from(text, 'utf8');
        return this.key;
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const fresh = randomBytes(32).toString('base64url');
    // Readable by the service only: whoever holds it can forge any session, admin included.
    writeFileAtomic(path, `${fresh}\n`, 0o600);
    this.key = Buffer.from(fresh, 'utf8');
    return this.key;
  }

  mac(purpose: string, value: string): string {
    return createHmac('sha256', this.bytes).update(`${purpose}\n${value}`).digest('base64url');
  }

  /** `value.mac`, bound to a purpose so a token of one kind cannot stand in for another. */
  sign(purpose: string, value: string): string {
    return `${value}.${this.mac(purpose, value)}`;
  }

  /** The value when the signature is right, else undefined. */
  unsign(purpose: string, signed: string | undefined): string | undefined {
    if (!signed) return undefined;
    const dot = signed.lastIndexOf('.');
    if (dot <= 0) return undefined;
    const value = signed.slice(0, dot);
    const given = Buffer.from(signed.slice(dot + 1));
    const want = Buffer.from(this.mac(purpose, value));
    return given.length === want.length && timingSafeEqual(given, want) ? value : undefined;
  }
}
