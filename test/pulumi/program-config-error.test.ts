import * as pulumi from '@pulumi/pulumi';
import { expect, it } from 'vitest';
import { installMocks } from './mocks';

it('fails the preview with the key and the command that fixes it, without a stack trace', async () => {
  await installMocks('prod');
  pulumi.runtime.setAllConfig({
    'turnkey:provider': 'metered',
    'turnkey:publicHost': 'turn.example.com',
    'turnkey:meteredApiUrl': 'https://app.metered.live',
  });
  const err = await import('../../infra/program.js').catch((e: unknown) => e);
  expect(pulumi.RunError.isInstance(err as Error)).toBe(true);
  expect((err as Error).message).toBe(
    "turnkey:meteredApiKey is required when turnkey:provider is metered (Metered's Secret Key, Dashboard → Developers; or set turnkey:meteredCredentialApiKey to one credential's API Key, Dashboard → TURN Server): run `pulumi config set --secret turnkey:meteredApiKey <your Metered secret key>`",
  );
});
