import { MAX_USER_ID_LENGTH, USER_ID } from '../../contract';
import { InvalidInputError } from './errors';

export { MAX_USER_ID_LENGTH };

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
