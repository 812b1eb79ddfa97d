import { isIP } from 'node:net';
import { defaultOf, parseIceUri, splitList } from '../../contract';
import type { ProviderConfig } from '../providers/create';
import { ConfigError } from './errors';
import { type Env, present, readVarFile, wholeNumber } from './read';

/**
 * ACME_EMAIL and its companions: the service obtains its certificate from an ACME CA and
 * renews it (service/acme/). Read here, checked before anything listens, so that a wrong
 * value stops start-up with one line instead of failing an order minutes later.
 */
export interface AcmeSettings {
  email: string;
  directoryUrl: string;
  /** Names on the certificate, the first its subject. */
  domains: string[];
  httpPort: number;
  stateDir: string;
  /** ACME_CA_FILE's PEM: trusted for the directory's own HTTPS. */
  caPem?: string;
}

const EMAIL = /^[^\s@,;<>"]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$/;
const DNS_NAME =
  /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;

/** The hosts of the TURN URIs this service hands out for its own relay: the names to certify. */
function turnHosts(provider: ProviderConfig): string[] {
  if (provider.provider !== 'coturn') return [];
  const urls = provider.fleet?.relays[0]?.urls ?? provider.turnUris;
  return [...new Set(urls.map((u) => parseIceUri(u).host))];
}

export function readAcmeSettings(env: Env, provider: ProviderConfig): AcmeSettings | undefined {
  const email = present(env, 'ACME_EMAIL');
  if (email === undefined) {
    const stray = (['ACME_DOMAINS', 'ACME_DIRECTORY_URL', 'ACME_CA_FILE'] as const).find(
      (name) => present(env, name) !== undefined,
    );
    if (stray)
      throw new ConfigError(`${stray} is set without ACME_EMAIL: set ACME_EMAIL to turn ACME on`);
    return undefined;
  }
  const supplied = (['TLS_CERT_FILE', 'TLS_KEY_FILE'] as const).find(
    (name) => present(env, name) !== undefined,
  );
  if (supplied)
    throw new ConfigError(
      `ACME_EMAIL and ${supplied} are both set: keep one certificate source (unset TLS_CERT_FILE and TLS_KEY_FILE for automatic certificates, or ACME_EMAIL to serve your own)`,
    );
  if (!EMAIL.test(email))
    throw new ConfigError(`ACME_EMAIL must be an e-mail address, got "${email}"`);

  const directoryUrl =
    present(env, 'ACME_DIRECTORY_URL') ?? (defaultOf('acmeDirectoryUrl') as string);
  let url: URL | undefined;
  try {
    url = new URL(directoryUrl);
  } catch {}
  if (url?.protocol !== 'https:')
    throw new ConfigError(
      `ACME_DIRECTORY_URL must be the https URL of an ACME directory, got "${directoryUrl}"`,
    );

  const listed = present(env, 'ACME_DOMAINS');
  const domains = listed === undefined ? turnHosts(provider) : splitList(listed);
  if (domains.length === 0)
    throw new ConfigError(
      'ACME_DOMAINS is required: the names to certify, comma-separated (the default is the host of TURN_URLS, and there is none)',
    );
  const bad = domains.find((d) => isIP(d) !== 0 || !DNS_NAME.test(d));
  if (bad !== undefined)
    throw new ConfigError(
      `ACME_DOMAINS must list DNS names (HTTP-01 reaches this host through each), got "${bad}"${listed === undefined ? ' (from TURN_URLS)' : ''}`,
    );

  const stateDir = present(env, 'ACME_STATE_DIR');
  if (stateDir === undefined || !stateDir.startsWith('/'))
    throw new ConfigError(
      'ACME_STATE_DIR must be an absolute path to a directory that outlives the container (a volume): the account key and certificate are kept there, or every restart would order a new certificate',
    );

  const caFile = present(env, 'ACME_CA_FILE');
  const caPem = caFile === undefined ? undefined : readVarFile('ACME_CA_FILE', caFile);
  if (caPem !== undefined && !caPem.includes('-----BEGIN CERTIFICATE-----'))
    throw new ConfigError('ACME_CA_FILE holds no PEM certificate (-----BEGIN CERTIFICATE-----)');

  return {
    email,
    directoryUrl,
    domains,
    httpPort: wholeNumber(env, 'acmeHttpPort', 0),
    stateDir,
    ...(caPem !== undefined ? { caPem } : {}),
  };
}
