import { InvalidInputError } from './errors';

export const MAX_USER_ID_LENGTH = 128;

/**
 * No `:` (Coturn splits the TURN REST username at the first one) and nothing a log line,
 * header or STUN USERNAME attribute could be confused by: letters, digits and `._~@+-`.
 */
const USER_ID = /^[A-Za-z0-9._~@+-]+$/;

export function assertValidUserId(userId: unknown): asserts userId is string {
  if (typeof userId !== 'string' || userId.length === 0) {
    throw new InvalidInputError('user', 'user is required: pass ?user=<id> (your app’s user id)');
  }
  if (userId.length > MAX_USER_ID_LENGTH) {
    throw new InvalidInputError(
      'user',
      `user is too long: at most ${MAX_USER_ID_LENGTH} characters`,
    );
  }
  if (!USER_ID.test(userId)) {
    throw new InvalidInputError(
      'user',
      'user may contain only letters, digits and . _ ~ @ + - (no colons or spaces)',
    );
  }
}
