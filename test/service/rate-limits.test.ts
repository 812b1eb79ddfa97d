import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { get, randomToken, startTestService } from '../helpers/service';

/**
 * Two limits on GET /v1/ice-servers: per token and user id (RATE_LIMIT_PER_MINUTE), and per
 * token across all user ids (RATE_LIMIT_PER_TOKEN_PER_MINUTE; per client address without
 * API_TOKENS), so varying `user` cannot mint without bound. Invalid input counts for neither.
 */

const TOKEN = randomToken();
const OTHER = randomToken();
const PER_TOKEN = 5;

type Service = Awaited<ReturnType<typeof startTestService>>;

describe('the limit per token across user ids', () => {
  let svc: Service;
  beforeAll(async () => {
    svc = await startTestService({
      TURN_PROVIDER: 'stun',
      API_TOKENS: `${TOKEN},${OTHER}`,
      RATE_LIMIT_PER_MINUTE: '1000',
      RATE_LIMIT_PER_TOKEN_PER_MINUTE: String(PER_TOKEN),
    });
  });
  afterAll(async () => svc?.service.close());
  const ice = (user: string, token = TOKEN) =>
    get(`${svc.url}/v1/ice-servers?user=${user}`, { token });

  it('refuses a token varying the user past its limit, with Retry-After; another token is unaffected', async () => {
    // Invalid requests are answered 400 before either limit counts them.
    for (let i = 0; i < 20; i++) expect((await ice(`bad:${i}`)).status).toBe(400);
    const statuses: number[] = [];
    for (let i = 0; i < PER_TOKEN; i++) statuses.push((await ice(`user-${i}`)).status);
    expect(statuses).toEqual(Array(PER_TOKEN).fill(200));
    const limited = await ice('someone-new');
    expect(limited.status).toBe(429);
    expect(limited.json()).toEqual({
      error: 'rate_limited',
      message: `rate limit of ${PER_TOKEN} requests per minute for this API token (all user ids together) exceeded; retry after the Retry-After header, or raise RATE_LIMIT_PER_TOKEN_PER_MINUTE`,
    });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect((await ice('someone-new', OTHER)).status).toBe(200);
  });
});

describe('without API_TOKENS (STUN-only): the same limit per client address', () => {
  let svc: Service;
  beforeAll(async () => {
    svc = await startTestService({
      TURN_PROVIDER: 'stun',
      RATE_LIMIT_PER_TOKEN_PER_MINUTE: String(PER_TOKEN),
    });
  });
  afterAll(async () => svc?.service.close());

  it('refuses one client varying the user past the limit', async () => {
    const statuses: number[] = [];
    for (let i = 0; i <= PER_TOKEN; i++)
      statuses.push((await get(`${svc.url}/v1/ice-servers?user=u${i}`)).status);
    expect(statuses).toEqual([...Array(PER_TOKEN).fill(200), 429]);
  });
});
