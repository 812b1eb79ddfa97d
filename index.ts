/**
 * The stack's program as `pulumi up` loads it (Pulumi.yaml `main`); the program itself is
 * infra/program.ts. It sits here, next to node_modules, because the program directory is where
 * the nodejs language host looks for the plugins to prepare before the program runs: `main`'s
 * directory (pulumi/pulumi pkg/engine/project.go getPwdMain), walked downward only
 * (sdk/nodejs/cmd/pulumi-language-nodejs/main.go GetRequiredPackages → getPackagesFromDir).
 * From infra/ it would see no node_modules, and the docker and random plugins would only be
 * fetched at their first resource, which fails offline or under
 * PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION (test/package/plugins.test.ts).
 */
export * from './infra/program';
