import { chmodSync, existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { ImagePlan } from '../plan/deployment';

/**
 * The Docker provider's context digest, which decides whether an image is rebuilt (and so its
 * container replaced), takes in every file's mode (github:pulumi/pulumi-docker,
 * provider/provider.go: hashContext walks the context minus its dockerignore, and
 * contextHashAccumulator.hashPath writes each file's name, fs.FileMode.String() and content
 * hash). git and esbuild create files as the local umask says (0664 under 002, 0644 under 022),
 * so without fixed modes a laptop and a CI runner each see a changed relay image. Directories
 * are not in the digest but are in the tar sent to the build, so they are fixed as well.
 */
export const FILE_MODE = 0o644;
export const EXECUTABLE_MODE = 0o755;
export const DIRECTORY_MODE = 0o755;

/** Files, relative to the project root, that an image runs as they are. */
const EXECUTABLES = new Set(['coturn/entrypoint.sh']);

/**
 * The patterns the provider applies, from the first file that exists (provider/provider.go,
 * getIgnorePatterns): `<Dockerfile>.dockerignore`, then `<context>/.dockerignore`.
 */
function ignoreFile(context: string, dockerfile: string): string | undefined {
  return [`${dockerfile}.dockerignore`, join(context, '.dockerignore')].find((p) => existsSync(p));
}

/**
 * The files an allow-list dockerignore (`**`, then `!path` lines) lets through. Only that form is
 * read, with no matcher of its own that could disagree with the provider's: any other is refused.
 */
function allowed(file: string): string[] {
  const lines = readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const [first, ...rest] = lines;
  const literal = /^![^*?[\]\\!]+$/;
  if (first !== '**' || !rest.every((l) => literal.test(l)))
    throw new Error(
      `${file}: a build context's files get fixed modes before the build, which reads a dockerignore only as \`**\` followed by \`!path\` lines (the files let through)`,
    );
  return rest.map((l) => l.slice(1).replace(/^\/+/, ''));
}

/** Everything under `dir` (lstat: a symlink is neither followed nor changed). */
function walk(dir: string, out: { files: string[]; dirs: string[] }) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      out.dirs.push(path);
      walk(path, out);
    } else if (entry.isFile()) out.files.push(path);
  }
}

/** The context's files and the directories below its root that hold them, as absolute paths. */
function contextPaths(context: string, dockerfile: string) {
  const ignore = ignoreFile(context, dockerfile);
  const out = { files: [] as string[], dirs: [] as string[] };
  if (!ignore) {
    walk(context, out);
    return out;
  }
  const inContext = !relative(context, dockerfile).startsWith(`..${sep}`);
  const files = allowed(ignore)
    .map((f) => join(context, f))
    .concat(inContext ? [dockerfile] : [])
    .filter((f) => existsSync(f) && lstatSync(f).isFile());
  const dirs = new Set<string>();
  for (const f of files)
    for (let d = dirname(f); d !== context && d.startsWith(context + sep); d = dirname(d))
      dirs.add(d);
  return { files: [...new Set(files)], dirs: [...dirs] };
}

/** One file or directory of an image's build context, with the mode it must have. */
export interface ContextEntry {
  path: string;
  /** Relative to the context, `/`-separated: where the build sees it. */
  inContext: string;
  directory: boolean;
  mode: number;
}

/**
 * What an image's build sees, each with its fixed mode: the context minus its dockerignore,
 * directories first. `turnkey compose` copies exactly these into the compose project.
 */
export function contextEntries(
  projectRoot: string,
  image: Pick<ImagePlan, 'context' | 'dockerfile'>,
): ContextEntry[] {
  const root = resolve(projectRoot);
  const context = resolve(image.context);
  const { files, dirs } = contextPaths(context, resolve(image.dockerfile));
  const entry = (path: string, directory: boolean): ContextEntry => ({
    path,
    inContext: relative(context, path).split(sep).join('/'),
    directory,
    mode: directory
      ? DIRECTORY_MODE
      : EXECUTABLES.has(relative(root, path).split(sep).join('/'))
        ? EXECUTABLE_MODE
        : FILE_MODE,
  });
  return [...dirs.sort().map((d) => entry(d, true)), ...files.sort().map((f) => entry(f, false))];
}

/**
 * Gives the image's build context fixed modes, whatever umask the files were made with: call
 * after the service bundle is written and before the Image resource reads the context. A mode
 * already right is left alone, so a read-only install with the right modes builds as before.
 * `warn` hears of a file whose mode could not be set: still deployable, but a deploy from
 * another machine may then see a changed context.
 */
export function fixContextModes(
  projectRoot: string,
  image: Pick<ImagePlan, 'context' | 'dockerfile'>,
  warn: (message: string) => void,
) {
  for (const { path, mode } of contextEntries(projectRoot, image)) {
    if ((lstatSync(path).mode & 0o7777) === mode) continue;
    try {
      chmodSync(path, mode);
    } catch (err) {
      warn(
        `could not set ${path} to mode ${mode.toString(8)} (${(err as Error).message}): a deploy from another machine may rebuild this image and replace its container`,
      );
    }
  }
}
