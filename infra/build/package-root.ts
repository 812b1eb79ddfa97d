import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * This package's root, where coturn/, service/Dockerfile and Pulumi.dev.yaml are: two levels up
 * from infra/build/ in a checkout, three from dist/infra/build/ when installed.
 */
export const PACKAGE_ROOT = [resolve(__dirname, '../..'), resolve(__dirname, '../../..')].find(
  (dir) => existsSync(join(dir, 'coturn/Dockerfile.coturn')),
) as string;
