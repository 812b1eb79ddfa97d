import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { parse } from 'yaml';

/**
 * Which resource plugins `pulumi up` (and `pulumi install`) learn of before the program runs,
 * computed as the engine and the nodejs language host compute it. No Go toolchain or Pulumi CLI
 * runs here, so this is a line-by-line port of github:pulumi/pulumi at v3.248.0 (a88168d8, the
 * release of our @pulumi/pulumi; unchanged in the walk at 1b594989, 2026-08):
 *
 * - pkg/engine/update.go installPlugins: `plugin.NewProgramInfo(root, pwd, main, …)` with pwd
 *   and main from getPwdMain, then gatherPackagesFromProgram → lang.GetRequiredPackages. What
 *   it finds is installed up front (ensurePluginsAreInstalled) and pins the default providers'
 *   versions (computeDefaultProviderPackages); under PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION
 *   a plugin found late, at the first registration (pkg/resource/deploy/providers/registry.go
 *   loadProvider), is a MissingError, never an install.
 * - pkg/engine/project.go getPwdMain: the program directory is `main` when that is a directory,
 *   else `main`'s directory; the project root only when `main` is unset.
 * - sdk/nodejs/cmd/pulumi-language-nodejs/main.go GetRequiredPackages: getPackagesFromDir(
 *   req.Info.ProgramDirectory, …, inNodeModules=false). It walks that directory *downward* only
 *   (every subdirectory, symlinks resolved, a directory holding PulumiPolicy.{json,yaml,yml}
 *   skipped) and reads a package.json only below a directory named node_modules; getPackageInfo,
 *   getPluginName, getPluginVersion turn its `pulumi` field into a plugin. A node_modules above
 *   the program directory is never seen, however Node would resolve the program's imports.
 */

export interface RequiredPlugin {
  kind: 'resource';
  name: string;
  /** As the engine gets it: `v`-prefixed (getPluginVersion). */
  version: string;
}

/** getPwdMain: the working directory the program (and its providers) run in, and the entry. */
export function pwdMain(root: string, main: string | undefined): { pwd: string; main: string } {
  if (!main) return { pwd: root, main: '.' };
  const target = isAbsolute(main) ? main : resolve(root, main);
  return statSync(target).isDirectory()
    ? { pwd: target, main: '.' }
    : { pwd: dirname(target), main: basename(target) };
}

/** The program directory of the project at `root`, from its Pulumi.yaml's `main`. */
export function programDirectory(root: string): string {
  const project = parse(readFileSync(join(root, 'Pulumi.yaml'), 'utf8')) as { main?: string };
  return pwdMain(root, project.main).pwd;
}

interface PackageJson {
  name?: string;
  version?: string;
  pulumi?: { resource?: boolean; name?: string; version?: string };
}

/** getPackageInfo + getPluginName + getPluginVersion; undefined when no resource plugin. */
function pluginOf(info: PackageJson): RequiredPlugin | undefined {
  if (!info.pulumi?.resource) return undefined;
  let name = info.pulumi.name ?? '';
  if (!name) {
    if (!info.name) throw new Error('missing expected "name" property');
    if (!info.name.startsWith('@pulumi/'))
      throw new Error(`Missing property "name" for the third-party plugin '${info.name}'`);
    name = info.name.slice(info.name.indexOf('/') + 1);
  }
  const version = info.pulumi.version || info.version;
  if (!version) throw new Error('Missing expected "version" property');
  return { kind: 'resource', name, version: version.startsWith('v') ? version : `v${version}` };
}

/** DetectPolicyPackPathAt (sdk/go/common/workspace/paths.go; encoding.Exts). */
const isPolicyPack = (dir: string) =>
  ['.json', '.yaml', '.yml'].some((ext) => {
    const file = join(dir, `PulumiPolicy${ext}`);
    return existsSync(file) && !statSync(file).isDirectory();
  });

/**
 * getPackagesFromDir. Errors are collected, not thrown, as upstream does (it only logs them at
 * -v=3 and still returns what it found); `errors` hands them to the caller.
 */
export function requiredPlugins(
  programDir: string,
  errors: string[] = [],
  inNodeModules = false,
  visited = new Set<string>(),
): RequiredPlugin[] {
  const dir = resolve(programDir);
  if (visited.has(dir)) return [];
  visited.add(dir);
  let entries: import('node:fs').Dirent[];
  try {
    // os.ReadDir returns its entries sorted by name.
    entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
  } catch (err) {
    errors.push(`reading plugin dir ${dir}: ${(err as Error).message}`);
    return [];
  }
  const found: RequiredPlugin[] = [];
  for (const entry of entries) {
    let curr = join(dir, entry.name);
    let isDir = entry.isDirectory();
    if (entry.isSymbolicLink()) {
      try {
        curr = realpathSync(curr);
        isDir = statSync(curr).isDirectory();
      } catch (err) {
        errors.push(`resolving link in plugin dir ${curr}: ${(err as Error).message}`);
        continue;
      }
    }
    if (isDir) {
      if (isPolicyPack(curr)) continue;
      found.push(
        ...requiredPlugins(
          curr,
          errors,
          inNodeModules || basename(dir) === 'node_modules',
          visited,
        ),
      );
    } else if (inNodeModules && entry.name === 'package.json') {
      try {
        const plugin = pluginOf(JSON.parse(readFileSync(curr, 'utf8')) as PackageJson);
        if (plugin) found.push(plugin);
      } catch (err) {
        errors.push(`package.json ${curr}: ${(err as Error).message}`);
      }
    }
  }
  return found;
}
