// Loads infra/ the way `pulumi up` does (@pulumi/pulumi/cmd/run/run.js, CommonJS branch):
// ts-node from this project, registered with tsconfig.json and Pulumi's compiler-option
// defaults, type-checking unless tsconfig sets noCheck. Resources go to Pulumi's mock
// runtime; the stack outputs are printed as JSON. vitest's esbuild transform checks no
// types, so this is what catches a program that `pulumi up` would reject.
const path = require('node:path');
const pulumi = require('@pulumi/pulumi');
const tsutils = require('@pulumi/pulumi/tsutils');

async function main() {
  const root = path.resolve(__dirname, '../..');
  process.chdir(root);
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => ({
        id: `${args.name}-id`,
        state: {
          ...args.inputs,
          ...(args.type.startsWith('random:') ? { result: 'x'.repeat(48) } : {}),
        },
      }),
      call: (args) => args.inputs,
    },
    'turnkey',
    'dev',
    false,
  );
  pulumi.runtime.setAllConfig(JSON.parse(process.argv[2] || '{}'));

  const compilerOptions = tsutils.loadTypeScriptCompilerOptions('tsconfig.json');
  const { tsnodeRequire, typescriptRequire } = tsutils.typeScriptRequireStrings();
  require(tsnodeRequire).register({
    compiler: typescriptRequire,
    transpileOnly: compilerOptions.noCheck,
    project: 'tsconfig.json',
    skipProject: false,
    compilerOptions: {
      target: 'ES2020',
      module: 'nodenext',
      moduleResolution: 'nodenext',
      sourceMap: 'true',
      ...compilerOptions,
    },
  });

  // Pulumi.yaml's main: infra/
  const program = require(path.join(root, 'infra'));
  const outputs = {};
  for (const [name, value] of Object.entries(program)) {
    outputs[name] = await new Promise((resolve) => pulumi.output(value).apply(resolve));
    outputs[`${name}IsSecret`] = await pulumi.isSecret(pulumi.output(value));
  }
  process.stdout.write(`${JSON.stringify(outputs)}\n`);
}

main().catch((err) => {
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
});
