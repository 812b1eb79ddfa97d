import { planDeployment } from '../infra';
import standIns from '../test/docker/stand-ins.json';
import { dockerCli } from '../test/helpers/docker';
import { buildImages } from '../test/helpers/realise';
import { REPO_ROOT, stackConfig } from '../test/helpers/stack';
import { publish, table } from './report';

/** What each image adds on top of its base image. */
export async function footprint(): Promise<void> {
  const engine = await dockerCli(['info', '--format', '{{.ServerVersion}}']).catch(() => undefined);
  if (!engine)
    throw new Error(
      'no Docker engine: run bash test/docker/ensure-engine.sh && bash test/docker/base-images.sh first',
    );
  const config = stackConfig('dev', {
    'turnkey:nodeImage': standIns.nodeImage,
    'turnkey:coturnImage': standIns.coturnImage,
  });
  const plan = planDeployment(config, { stack: 'bench', projectRoot: REPO_ROOT });
  await buildImages(plan);
  const size = async (ref: string) =>
    Number((await dockerCli(['image', 'inspect', '-f', '{{.Size}}', ref])).trim());
  const base = { coturn: standIns.coturnImage, service: standIns.nodeImage } as const;
  const mb = (n: number) => (n / 1e6).toFixed(1);
  const added = (n: number) => (n < 1e6 ? `${(n / 1e3).toFixed(1)} kB` : `${mb(n)} MB`);
  const rows: (string | number)[][] = [];
  for (const image of plan.images) {
    const own = await size(image.imageName);
    const parent = await size(base[image.role]);
    rows.push([image.imageName, base[image.role], mb(parent), mb(own), added(own - parent)]);
  }
  publish(
    'footprint',
    'Image footprint',
    table(['image', 'base', 'base MB', 'image MB', 'added'], rows),
    [
      'Sizes as `docker image inspect` reports them. Here the bases are local stand-ins (docs/testing.md); the added size does not depend on them.',
      'The service image carries one bundled file and no node_modules.',
    ],
  );
}
