/** `s` as a literal inside a RegExp (usernames carry `:` and `.`, log lines `<>`). */
export const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
