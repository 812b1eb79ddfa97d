// Runs a Pulumi project's program the way `pulumi up` does, with Pulumi's mock runtime in place
// of the engine, and prints what it registered. Not an imitation of the loader: it loads the
// SDK's own @pulumi/pulumi/cmd/run (index.js, which calls run.js run()), resolved from the
// program directory as the language host resolves it, with the arguments and environment the
// language host gives it. A failing program exits non-zero with the SDK's own error output.
//
// What the engine and language host do, and where it is written (github:pulumi/pulumi):
// - pkg/engine (getPwdMain): Pulumi.yaml's `main` is joined to the project root; a directory
//   becomes the working directory with entry point ".", a file becomes dirname + basename.
// - sdk/nodejs/cmd/pulumi-language-nodejs/main.go: node runs cmd/run with `--pwd
//   <program directory>` and the entry point last; PULUMI_CONFIG holds the config as JSON
//   (keys as `ns:config:name`), PULUMI_CONFIG_SECRET_KEYS the secret keys;
//   PULUMI_NODEJS_TYPESCRIPT=true unless runtime option `typescript: false`;
//   PULUMI_NODEJS_TSCONFIG_PATH from runtime option `tsconfig`.
// - node_modules/@pulumi/pulumi/cmd/run/run.js: for entry "." it takes package.json's
//   exports/main when that file exists; registers ts-node with the project's typescript.
//
// Usage: node language-host.js <projectRoot> <stack> '<config JSON>' ['<secret keys JSON>']
// On success prints one JSON line: { registered: [{type, name, build?}], outputs: {name:
// {value, secret}} }, with each image's build input (context, dockerfile: where the provider,
// running in the program directory, will look).
const fs = require('node:fs');
const path = require('node:path');

function pwdMain(root, main) {
  if (!main) return { pwd: root, entry: '.' };
  const target = path.resolve(root, main);
  return fs.statSync(target).isDirectory()
    ? { pwd: target, entry: '.' }
    : { pwd: path.dirname(target), entry: path.basename(target) };
}

async function main() {
  const [root, stack, configJson = '{}', secretKeysJson = '[]'] = process.argv.slice(2);
  const { parse } = require('yaml');
  const project = parse(fs.readFileSync(path.join(root, 'Pulumi.yaml'), 'utf8'));
  const options = project.runtime?.options ?? {};
  const { pwd, entry } = pwdMain(root, project.main);

  const config = JSON.parse(configJson);
  const envConfig = {};
  for (const [k, v] of Object.entries(config)) {
    const [ns, ...name] = k.split(':');
    envConfig[`${ns}:config:${name.join(':')}`] = v;
  }
  process.env.PULUMI_CONFIG = JSON.stringify(envConfig);
  process.env.PULUMI_CONFIG_SECRET_KEYS = secretKeysJson;
  if (options.typescript !== false) process.env.PULUMI_NODEJS_TYPESCRIPT = 'true';
  if (options.tsconfig) process.env.PULUMI_NODEJS_TSCONFIG_PATH = options.tsconfig;

  // The language host's locateModule: require.resolve from the program directory.
  const fromProgram = (id) => require.resolve(id, { paths: [pwd] });
  const pulumi = require(fromProgram('@pulumi/pulumi'));
  const registered = [];
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        registered.push({
          type: args.type,
          name: args.name,
          ...(args.type === 'docker:index/image:Image' ? { build: args.inputs.build } : {}),
        });
        const state = { ...args.inputs };
        if (args.type === 'random:index/randomPassword:RandomPassword')
          state.result = 'x'.repeat(48);
        if (args.type === 'docker:index/image:Image') state.repoDigest = `sha256:${args.name}`;
        return { id: `${args.name}-id`, state };
      },
      call: (args) => args.inputs,
    },
    project.name,
    stack,
    false,
  );

  // The language host runs `node <cmd/run> --monitor … --pwd <program dir> <entry>`; cmd/run's
  // index.js parses that, installs the exit-code guards, and calls run.js run(). "mock" is the
  // SDK's own monitor address for its mock runtime.
  const runPath = fromProgram('@pulumi/pulumi/cmd/run');
  process.argv = [
    process.argv[0],
    runPath,
    '--monitor',
    'mock',
    '--project',
    project.name,
    '--stack',
    stack,
    '--pwd',
    pwd,
    entry,
  ];
  // Our only hook: keep what the program exported, as run() hands it to the Stack resource.
  const stackModule = require(fromProgram('@pulumi/pulumi/runtime/stack.js'));
  const exported = new Promise((resolve) => {
    const realRunInStack = stackModule.runInPulumiStack;
    stackModule.runInPulumiStack = (init) =>
      realRunInStack(async () => {
        const exports = await init();
        resolve(exports);
        return exports;
      });
  });
  require(runPath);
  const outputs = await exported;
  const shown = {};
  for (const [name, value] of Object.entries(outputs ?? {})) {
    const out = pulumi.output(value);
    shown[name] = {
      value: await new Promise((resolve) => out.apply(resolve)),
      secret: await pulumi.isSecret(out),
    };
  }
  process.stdout.write(`${JSON.stringify({ registered, outputs: shown })}\n`);
}

main().catch((err) => {
  process.stderr.write(`${err?.message ?? err}\n`);
  process.exit(1);
});
