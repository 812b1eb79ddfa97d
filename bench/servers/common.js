// Shared by the comparison servers: the work the credential endpoint must do, written out
// by hand (bearer check, user check, HMAC, JSON), and nothing else.
const { createHash, createHmac, timingSafeEqual } = require('node:crypto');

const token = process.env.BENCH_TOKEN;
const secret = process.env.BENCH_SECRET;
const tokenDigest = createHash('sha256').update(token).digest();
const USER = /^[A-Za-z0-9._~@+-]{1,128}$/;
const turnUrls = [`turn:127.0.0.1:3478?transport=udp`, `turn:127.0.0.1:3478?transport=tcp`];
const stunUrls = ['stun:127.0.0.1:3478'];
const TTL = 86400;

function authorized(header) {
  if (typeof header !== 'string' || !header.startsWith('Bearer ')) return false;
  return timingSafeEqual(tokenDigest, createHash('sha256').update(header.slice(7)).digest());
}

/** The response body for `user`, or undefined if the user is invalid. */
function iceServers(user) {
  if (typeof user !== 'string' || !USER.test(user)) return undefined;
  const expiry = Math.floor(Date.now() / 1000) + TTL;
  const username = `${expiry}:${user}`;
  const credential = createHmac('sha1', secret).update(username).digest('base64');
  return JSON.stringify({
    iceServers: [{ urls: stunUrls }, { urls: turnUrls, username, credential }],
    ttl: TTL,
    expiresAt: new Date(expiry * 1000).toISOString(),
  });
}

module.exports = { authorized, iceServers };
