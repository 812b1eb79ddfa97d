import { Agent } from 'node:https';
import * as acme from 'acme-client';
import type { AcmeSettings } from '../config/acme';
import type { ChallengeResponder } from './challenges';
import {
  AcmeFailure,
  type CaProblem,
  caRefusal,
  caUnreachable,
  problemIn,
  validationFailure,
} from './problems';
import type { StoredAccount, StoredCertificate } from './store';

/**
 * One certificate order (RFC 8555 §7.4) through acme-client, step by step rather than its
 * `auto()`, so that each failure is caught where it happens and named (problems.ts): account,
 * order, each name's HTTP-01 validation, finalization.
 */

/** The CA's answers as they pass acme-client's HTTP client (one process-wide instance). */
let lastProblem: CaProblem | undefined;
let recording = false;

function recordProblems(): void {
  if (recording) return;
  recording = true;
  // acme-client retries 429 and 5xx itself, sleeping out Retry-After each time (src/axios.js):
  // for a rate limit of hours, a silent hang. The renewal's own backoff retries instead, and
  // logs why (a bad nonce is still retried at once: src/http.js signedRequest).
  const defaults = acme.axios.defaults as { acmeSettings?: { retryMaxAttempts: number } };
  if (defaults.acmeSettings) defaults.acmeSettings.retryMaxAttempts = 0;
  acme.axios.interceptors.response.use((response) => {
    const problem = problemIn(response.data, response.headers?.['retry-after']);
    if (problem) lastProblem = problem;
    return response;
  });
}

/** The ACME server's own HTTPS: Node's public CAs, or ACME_CA_FILE's for a private CA. */
function trust(settings: AcmeSettings): void {
  acme.axios.defaults.httpsAgent = settings.caPem
    ? new Agent({ ca: settings.caPem, keepAlive: true })
    : new Agent({ keepAlive: true });
}

export interface OrderResult {
  account: StoredAccount;
  certificate: StoredCertificate;
}

/** Runs `step`; a failure becomes the AcmeFailure naming what the CA said about it. */
async function step<T>(settings: AcmeSettings, doing: string, run: () => Promise<T>): Promise<T> {
  lastProblem = undefined;
  try {
    return await run();
  } catch (err) {
    if (err instanceof AcmeFailure) throw err;
    if (lastProblem) throw caRefusal(lastProblem, doing);
    const e = err as Error & { code?: string; response?: unknown };
    // No answer at all (acme-client wraps axios, whose network errors keep their code).
    if (e.code !== undefined && e.response === undefined)
      throw caUnreachable(settings.directoryUrl, e);
    throw new AcmeFailure('other', `ACME: ${doing} failed: ${e.message}`);
  }
}

export async function orderCertificate(
  settings: AcmeSettings,
  stored: StoredAccount | undefined,
  challenges: ChallengeResponder,
  /** Called once the account exists, so a failed order still keeps it. */
  onAccount: (account: StoredAccount) => void,
): Promise<OrderResult> {
  recordProblems();
  trust(settings);
  const sameCa = stored?.directoryUrl === settings.directoryUrl;
  const accountKey = sameCa
    ? stored.key
    : (await acme.crypto.createPrivateEcdsaKey('P-256')).toString();
  const client = new acme.Client({
    directoryUrl: settings.directoryUrl,
    accountKey,
    ...(sameCa && stored.url ? { accountUrl: stored.url } : {}),
    // How often acme-client polls a pending challenge or order.
    backoffMin: 500,
    backoffMax: 5_000,
    backoffAttempts: 12,
  });
  // Registering an already registered key returns that account (RFC 8555 §7.3.1), so a lost
  // account.json costs nothing.
  await step(settings, 'the account registration', () =>
    client.createAccount({
      termsOfServiceAgreed: true,
      contact: [`mailto:${settings.email}`],
    }),
  );
  const account: StoredAccount = {
    key: accountKey,
    url: client.getAccountUrl(),
    directoryUrl: settings.directoryUrl,
  };
  onAccount(account);

  const order = await step(settings, `an order for ${settings.domains.join(', ')}`, () =>
    client.createOrder({ identifiers: settings.domains.map((value) => ({ type: 'dns', value })) }),
  );
  const authorizations = await step(settings, 'reading the order', () =>
    client.getAuthorizations(order),
  );
  for (const authz of authorizations) {
    const domain = authz.identifier.value;
    if (authz.status === 'valid') continue;
    const challenge = authz.challenges.find((c) => c.type === 'http-01');
    if (!challenge)
      throw new AcmeFailure(
        'refused',
        `ACME: the CA offers no HTTP-01 challenge for ${domain} (only ${authz.challenges.map((c) => c.type).join(', ')}): use a CA that validates over HTTP (turnkey:acmeDirectoryUrl)`,
      );
    const keyAuthorization = await client.getChallengeKeyAuthorization(challenge);
    challenges.set(challenge.token, keyAuthorization);
    try {
      await step(settings, `validating ${domain}`, () => client.completeChallenge(challenge));
      lastProblem = undefined;
      try {
        await client.waitForValidStatus(challenge);
      } catch (err) {
        // The challenge's own `error`, as the last poll saw it (or the authorization's).
        const problem = lastProblem as CaProblem | undefined;
        if (problem) throw validationFailure(domain, problem);
        throw new AcmeFailure(
          'other',
          `ACME: validating ${domain} failed: ${(err as Error).message}`,
        );
      }
    } finally {
      challenges.remove(challenge.token);
    }
  }

  const [key, csr] = await acme.crypto.createCsr(
    { commonName: settings.domains[0] as string, altNames: settings.domains },
    await acme.crypto.createPrivateEcdsaKey('P-256'),
  );
  const finalized = await step(settings, 'finalizing the order', () =>
    client.finalizeOrder(order, csr),
  );
  const cert = await step(settings, 'downloading the certificate', () =>
    client.getCertificate(finalized),
  );
  return {
    account,
    certificate: {
      cert,
      key: key.toString(),
      directoryUrl: settings.directoryUrl,
      domains: settings.domains,
    },
  };
}
