import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The active revocations, user id → when each ends (ms), kept in REVOCATIONS_DIR (a volume of
 * the stack's) so a restarted or replaced service still refuses the user. Written whole and
 * renamed into place on every change; ended ones are dropped as they are read.
 */

export interface Revocation {
  user: string;
  /** When it ends, ms since the epoch. */
  until: number;
  /** When it was made, ms since the epoch. */
  since: number;
}

export class RevocationStore {
  private readonly entries = new Map<string, Revocation>();
  private readonly file: string | undefined;

  /** `dir` undefined: in memory only (a service run by hand). */
  constructor(
    dir: string | undefined,
    private readonly now: () => number = Date.now,
  ) {
    this.file = dir === undefined ? undefined : join(dir, 'revocations.json');
    if (!this.file) return;
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new Error(
        `REVOCATIONS_DIR cannot be read (${(err as NodeJS.ErrnoException).code}): mount the stack's revocations volume there, readable by the service's user`,
      );
    }
    const saved = JSON.parse(text) as Revocation[];
    for (const r of saved) this.entries.set(r.user, r);
  }

  /** The revocation of `user` in force now, if any. */
  get(user: string): Revocation | undefined {
    const r = this.entries.get(user);
    if (r && r.until <= this.now()) {
      this.entries.delete(user);
      return undefined;
    }
    return r;
  }

  active(): Revocation[] {
    return [...this.entries.keys()]
      .map((u) => this.get(u))
      .filter((r): r is Revocation => r !== undefined)
      .sort((a, b) => a.until - b.until);
  }

  /** Revokes until `until`; a longer revocation already in force is kept. */
  put(user: string, until: number): Revocation {
    const existing = this.get(user);
    const r = existing && existing.until >= until ? existing : { user, until, since: this.now() };
    this.entries.set(user, r);
    this.save();
    return r;
  }

  /** Lifts it; whether there was one. */
  delete(user: string): boolean {
    const had = this.get(user) !== undefined;
    this.entries.delete(user);
    if (had) this.save();
    return had;
  }

  private save(): void {
    if (!this.file) return;
    const dir = join(this.file, '..');
    mkdirSync(dir, { recursive: true });
    const staged = join(dir, `.revocations.${randomBytes(4).toString('hex')}`);
    try {
      writeFileSync(staged, JSON.stringify(this.active()), { mode: 0o600 });
      renameSync(staged, this.file);
    } catch (err) {
      rmSync(staged, { force: true });
      throw err;
    }
  }
}
