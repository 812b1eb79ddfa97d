/**
 * The app's user id as it goes into a TURN username (`<expiry>:<user id>`): the providers and
 * `turnkey check` apply the same rule.
 */

export const MAX_USER_ID_LENGTH = 128;

/**
 * No `:` (Coturn splits the TURN REST username at the first one) and nothing a log line,
 * header or STUN USERNAME attribute could be confused by: letters, digits and `._~@+-`.
 */
export const USER_ID = /^[A-Za-z0-9._~@+-]+$/;

export const isValidUserId = (id: string): boolean =>
  id.length > 0 && id.length <= MAX_USER_ID_LENGTH && USER_ID.test(id);
