import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import ignore from '@balena/dockerignore';
import { pack } from 'tar-stream';

/**
 * The build context the Pulumi Docker provider sends for an image (github:pulumi/pulumi-docker,
 * provider/image.go dockerBuild and provider/provider.go getIgnorePatterns): the context
 * directory minus the patterns of `<Dockerfile>.dockerignore` if present, else of
 * `<context>/.dockerignore`; the Dockerfile itself always goes; every entry owned by root.
 */
export interface BuildContext {
  /** Files sent, relative to the context, `/`-separated, sorted. */
  files: string[];
  /** The Dockerfile's path inside the context, as the build's `dockerfile` parameter. */
  dockerfile: string;
}

function ignorePatterns(context: string, dockerfile: string): string {
  const file = [`${dockerfile}.dockerignore`, join(context, '.dockerignore')].find((p) =>
    existsSync(p),
  );
  return file ? readFileSync(file, 'utf8') : '';
}

/** Files under `dir`, skipping directories that are excluded with no exception inside them. */
function walk(dir: string, root: string, skip: (relDir: string) => boolean, out: string[]) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const rel = relative(root, path).split(sep).join('/');
    if (entry.isDirectory()) {
      if (!skip(rel)) walk(path, root, skip, out);
    } else out.push(rel);
  }
}

export function buildContext(context: string, dockerfile: string): BuildContext {
  const inContext = relative(context, dockerfile).split(sep).join('/');
  if (inContext.startsWith('../'))
    throw new Error(`${dockerfile} lies outside its build context ${context}`);
  const patterns = ignorePatterns(context, dockerfile);
  const ig = ignore().add(patterns);
  const exceptions = patterns
    .split('\n')
    .filter((l) => l.trim().startsWith('!'))
    .map((l) => l.trim().slice(1).replace(/^\//, ''));
  const skip = (relDir: string) =>
    ig.ignores(relDir) &&
    !inContext.startsWith(`${relDir}/`) &&
    !exceptions.some((e) => e.startsWith(`${relDir}/`) || e.startsWith('*'));
  const all: string[] = [];
  walk(context, context, skip, all);
  const files = all.filter((f) => f === inContext || !ig.ignores(f)).sort();
  return { files, dockerfile: inContext };
}

/** One file of a context, as the provider's context digest takes it in. */
export interface ContextEntry {
  /** Relative to the context, as in BuildContext.files. */
  path: string;
  /** Permission bits in octal, e.g. `644`. */
  mode: string;
  sha256: string;
}

/**
 * Each file the build is sent with what the provider's context digest takes of it
 * (provider/provider.go hashContext and hashPath: name, mode, content hash): a change here in
 * a file other than an ignored Dockerfile is another digest, so a rebuilt image and a replaced
 * container.
 */
export function contextEntries(context: string, dockerfile: string): ContextEntry[] {
  return buildContext(context, dockerfile).files.map((f) => {
    const path = join(context, f);
    return {
      path: f,
      mode: (statSync(path).mode & 0o7777).toString(8),
      sha256: createHash('sha256').update(readFileSync(path)).digest('hex'),
    };
  });
}

/** The context as the tar the provider uploads to POST /build. */
export async function contextTar(context: string, files: string[]): Promise<Buffer> {
  const tar = pack();
  for (const f of files) {
    const path = join(context, f);
    const st = statSync(path);
    tar.entry(
      { name: f, mode: st.mode & 0o7777, mtime: st.mtime, uid: 0, gid: 0 },
      readFileSync(path),
    );
  }
  tar.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of tar) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
