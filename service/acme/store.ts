import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ACME_STATE_FILES } from '../../contract';

/**
 * ACME_STATE_DIR: the account and the certificate, kept on a volume that outlives the
 * container, so a restart or a replaced container reuses both instead of registering and
 * ordering again (a CA's duplicate-certificate limit would soon refuse). Keys are 0600,
 * readable by the service's user alone; each file is written whole and renamed into place, so
 * a crash never leaves half of one and the TLS watcher never reads half of one.
 */

export interface StoredAccount {
  key: string;
  /** The account's URL at the CA, once registered. */
  url?: string;
  /** The directory it belongs to: an account exists at one CA only. */
  directoryUrl: string;
}

export interface StoredCertificate {
  /** The PEM chain, leaf first. */
  cert: string;
  key: string;
  /** Where it came from and for which names: either changed, it is not this deployment's. */
  directoryUrl: string;
  domains: string[];
}

export interface CertificateDates {
  notBefore: Date;
  notAfter: Date;
}

export const certificateDates = (pem: string): CertificateDates => {
  const x = new X509Certificate(pem);
  return { notBefore: new Date(x.validFrom), notAfter: new Date(x.validTo) };
};

export class AcmeStore {
  constructor(readonly dir: string) {}

  /** The paths the HTTPS listener's watcher (http/tls-reload.ts) reads. */
  get certFile() {
    return join(this.dir, ACME_STATE_FILES.certificate);
  }
  get keyFile() {
    return join(this.dir, ACME_STATE_FILES.certificateKey);
  }

  private read(name: string): string | undefined {
    try {
      return readFileSync(join(this.dir, name), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  private write(name: string, content: string, mode: number): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const target = join(this.dir, name);
    const staged = join(this.dir, `.${name}.${randomBytes(4).toString('hex')}`);
    try {
      writeFileSync(staged, content, { mode });
      renameSync(staged, target);
    } catch (err) {
      rmSync(staged, { force: true });
      throw err;
    }
  }

  private json<T>(name: string): T | undefined {
    const text = this.read(name);
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text) as T;
    } catch {
      return undefined;
    }
  }

  account(): StoredAccount | undefined {
    const key = this.read(ACME_STATE_FILES.accountKey);
    const meta = this.json<{ url?: string; directoryUrl?: string }>(ACME_STATE_FILES.account);
    if (key === undefined || typeof meta?.directoryUrl !== 'string') return undefined;
    return {
      key,
      directoryUrl: meta.directoryUrl,
      ...(typeof meta.url === 'string' ? { url: meta.url } : {}),
    };
  }

  saveAccount(account: StoredAccount): void {
    this.write(ACME_STATE_FILES.accountKey, account.key, 0o600);
    this.write(
      ACME_STATE_FILES.account,
      `${JSON.stringify({ url: account.url, directoryUrl: account.directoryUrl })}\n`,
      0o600,
    );
  }

  certificate(): StoredCertificate | undefined {
    const cert = this.read(ACME_STATE_FILES.certificate);
    const key = this.read(ACME_STATE_FILES.certificateKey);
    const meta = this.json<{ directoryUrl?: string; domains?: string[] }>(
      ACME_STATE_FILES.certificateMeta,
    );
    if (cert === undefined || key === undefined || !meta?.directoryUrl || !meta.domains)
      return undefined;
    return { cert, key, directoryUrl: meta.directoryUrl, domains: meta.domains };
  }

  /** The key first: the watcher holds a new certificate with the old key as unsettled, not bad. */
  saveCertificate(c: StoredCertificate): void {
    this.write(ACME_STATE_FILES.certificateKey, c.key, 0o600);
    this.write(ACME_STATE_FILES.certificate, c.cert, 0o644);
    this.write(
      ACME_STATE_FILES.certificateMeta,
      `${JSON.stringify({ directoryUrl: c.directoryUrl, domains: c.domains })}\n`,
      0o644,
    );
  }
}
