import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

/**
 * Polling, not fs.watch: files on bind mounts and Docker volumes, and files replaced by a rename
 * (as Kubernetes and certbot do), do not reliably emit events. The content's SHA-256 is compared,
 * not the mtime, which a copy can keep and a rewrite within one second need not change.
 */

/** How often a watched file is read: a change is picked up within about this. */
export const WATCH_INTERVAL_MS = 2000;

/** One file as one poll saw it: its bytes, or why it could not be read (e.g. ENOENT mid-rename). */
export type FileRead = { ok: true; bytes: Buffer } | { ok: false; code: string };

export interface FileWatch {
  /** Stops polling; a read already under way is discarded. */
  stop(): void;
}

const failed = (err: unknown): FileRead => ({
  ok: false,
  code: (err as NodeJS.ErrnoException).code ?? 'error',
});

async function readOne(path: string): Promise<FileRead> {
  try {
    return { ok: true, bytes: await readFile(path) };
  } catch (err) {
    return failed(err);
  }
}

function readOneSync(path: string): FileRead {
  try {
    return { ok: true, bytes: readFileSync(path) };
  } catch (err) {
    return failed(err);
  }
}

function digest(read: FileRead): string {
  return read.ok
    ? `ok:${createHash('sha256').update(read.bytes).digest('hex')}`
    : `error:${read.code}`;
}

/**
 * Reads `paths` every `intervalMs` and calls `onChange` with all of them, as read in that poll,
 * whenever one differs from the previous poll (the first: from the files as they are when
 * watchFiles is called, read at once so that a change right after start-up is not missed). The
 * bytes handed over are the ones hashed: a caller never acts on a later version than the one
 * the change was detected on.
 */
export function watchFiles(
  paths: readonly string[],
  intervalMs: number,
  onChange: (reads: FileRead[]) => void,
): FileWatch {
  let last = paths.map((p) => digest(readOneSync(p)));
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  const poll = async () => {
    const reads = await Promise.all(paths.map(readOne));
    if (stopped) return;
    const hashes = reads.map(digest);
    const changed = hashes.some((h, i) => h !== last[i]);
    last = hashes;
    schedule();
    if (changed) onChange(reads);
  };
  // A chain of timeouts, not an interval: a slow read (a stalled network mount) never overlaps
  // the next one.
  const schedule = () => {
    timer = setTimeout(() => void poll(), intervalMs);
    // Never what keeps the process alive: shutdown must not wait for the next poll.
    timer.unref();
  };

  schedule();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
