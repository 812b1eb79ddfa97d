import { describe, expect, it } from 'vitest';
import { readStackConfig, StackConfigError, valuesSource } from '../../infra';

const read = (values: Record<string, string>, secrets: string[] = []) =>
  readStackConfig(valuesSource(values, secrets));

function error(values: Record<string, string>, secrets: string[] = []): string {
  try {
    read(values, secrets);
  } catch (err) {
    expect(err).toBeInstanceOf(StackConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a StackConfigError');
}

const HOST = { publicHost: 'turn.example.com' };

describe('readStackConfig', () => {
  it('defaults to coturn with the standard ports and a realm from the host name', () => {
    expect(read(HOST)).toEqual({
      provider: 'coturn',
      publicHost: 'turn.example.com',
      realm: 'turn.example.com',
      servicePort: 8080,
      turnPort: 3478,
      tlsPort: 5349,
      relayPorts: { min: 49152, max: 65535 },
      credentialTtl: 86_400,
      stunUrls: [],
      listeningIps: [],
      allowedPeerIps: [],
      relayAdminPort: 5766,
      secretGeneration: 1,
      tls: false,
    });
  });

  it('uses realm "turnkey" for an IP address host', () => {
    expect(read({ publicHost: '127.0.0.1' }).realm).toBe('turnkey');
  });

  it('accepts plain http for Metered only on loopback', () => {
    const metered = { ...HOST, provider: 'metered', meteredApiUrl: 'http://127.0.0.1:18080' };
    expect(read(metered, ['meteredApiKey']).meteredApiUrl).toBe('http://127.0.0.1:18080');
  });

  it("takes Metered's secret key or a credential apiKey, each from its own secret key, and a region", () => {
    const metered = { ...HOST, provider: 'metered', meteredApiUrl: 'https://app.metered.live' };
    expect(read(metered, ['meteredApiKey'])).toMatchObject({ meteredKey: 'meteredApiKey' });
    expect(
      read({ ...metered, meteredRegion: 'europe' }, ['meteredCredentialApiKey']),
    ).toMatchObject({ meteredKey: 'meteredCredentialApiKey', meteredRegion: 'europe' });
  });

  it('enables TLS for coturn when both tlsCert and tlsKey are set', () => {
    expect(read(HOST, ['tlsCert', 'tlsKey']).tls).toBe(true);
  });

  it.each([
    [
      {},
      'publicHost',
      /^turnkey:publicHost is required.*: run `pulumi config set turnkey:publicHost turn\.example\.com`$/,
    ],
    [{ publicHost: 'not a host!' }, 'publicHost', /must be a host name or IP address/],
    [
      { ...HOST, provider: 'twilio' },
      'provider',
      /^turnkey:provider must be one of coturn, metered, stun, got "twilio": run `pulumi config set turnkey:provider coturn`$/,
    ],
    [
      { ...HOST, provider: 'metered' },
      'meteredApiUrl',
      /^turnkey:meteredApiUrl is required when turnkey:provider is metered/,
    ],
    [
      { ...HOST, provider: 'metered', meteredApiUrl: 'http://app.metered.live' },
      'meteredApiUrl',
      /must use https/,
    ],
    [
      { ...HOST, provider: 'metered', meteredApiUrl: 'https://app.metered.live' },
      'meteredApiKey',
      /^turnkey:meteredApiKey is required when turnkey:provider is metered \(Metered's Secret Key, Dashboard → Developers; or set turnkey:meteredCredentialApiKey to one credential's API Key, Dashboard → TURN Server\): run `pulumi config set --secret turnkey:meteredApiKey/,
    ],
    [
      {
        ...HOST,
        provider: 'metered',
        meteredApiUrl: 'https://app.metered.live',
        meteredRegion: 'Europe',
      },
      'meteredRegion',
      /^turnkey:meteredRegion must be a Metered region name, got "Europe": run `pulumi config set turnkey:meteredRegion europe`$/,
    ],
    [{ ...HOST, turnPort: '0' }, 'turnPort', /must be a port from 1 to 65535, got "0"/],
    [{ ...HOST, servicePort: 'http' }, 'servicePort', /must be a port/],
    [
      { ...HOST, relayPorts: '60000-50000' },
      'relayPorts',
      /must be a range MIN-MAX within 1024-65535/,
    ],
    [{ ...HOST, relayPorts: '49152' }, 'relayPorts', /must be a range/],
    [
      { ...HOST, servicePort: '50000' },
      'servicePort',
      /\(50000\) lies inside turnkey:relayPorts \(49152-65535\)/,
    ],
    [
      { ...HOST, servicePort: '3478' },
      'servicePort',
      /is the same port as turnkey:turnPort|same port/,
    ],
    [{ ...HOST, credentialTtl: '30' }, 'credentialTtl', /must be a whole number from 60 to 604800/],
    [{ ...HOST, secretGeneration: '0' }, 'secretGeneration', /must be a whole number from 1/],
    [{ ...HOST, externalIp: 'my-nat' }, 'externalIp', /must be PUBLIC\/PRIVATE for 1:1 NAT/],
    [
      { ...HOST, externalIp: '198.51.100.7' },
      'externalIp',
      /must be PUBLIC\/PRIVATE, not the public IP alone.*198\.51\.100\.7\/10\.0\.0\.5/,
    ],
    [{ ...HOST, externalIp: '198.51.100.7/fd00::5' }, 'externalIp', /of one IP version/],
    [{ ...HOST, realm: 'bad realm' }, 'realm', /must be a domain-like name/],
    // STUN's REALM is fewer than 128 characters (RFC 8489 §14.9); a longer realm is also how a
    // value could reach past turnserver's 1,023-byte line (the entrypoint checks that too).
    [
      { ...HOST, realm: `${'a'.repeat(63)}.${'b'.repeat(60)}.com` },
      'realm',
      /at most 127 characters, got 128/,
    ],
    [{ ...HOST, stunUrls: 'stun.example.com' }, 'stunUrls', /not a stun: URI/],
    [{ ...HOST, coturnImage: 'Bad Image' }, 'coturnImage', /is not an image reference/],
    [{ ...HOST, listeningIps: 'eth0' }, 'listeningIps', /must be IP addresses/],
  ])('%j → names turnkey:%s and the fix', (values, key, message) => {
    const msg = error(values as Record<string, string>);
    expect(msg).toMatch(message);
    expect(msg).toContain(`turnkey:${key}`);
    expect(msg).toMatch(/pulumi config set/);
  });

  // Coturn allows the private half as a peer before it checks its deny list, and a range
  // whose lower end is the zero address matches every peer.
  it.each([
    ['198.51.100.7/0.0.0.0', 'the unspecified ("this network") address'],
    ['2001:db8::7/::', 'the unspecified address'],
    ['198.51.100.7/127.0.0.1', 'a loopback address'],
    ['2001:db8::7/::1', 'a loopback address'],
    ['198.51.100.7/169.254.169.254', 'a link-local address'],
    ['2001:db8::7/fe80::1', 'a link-local address'],
    ['198.51.100.7/224.0.0.1', 'a multicast address'],
    ['2001:db8::7/ff02::1', 'a multicast address'],
    ['198.51.100.7/255.255.255.255', 'the broadcast address'],
    ['198.51.100.7/198.51.100.7', 'not a private address'],
    ['198.51.100.7/8.8.8.8', 'not a private address'],
    ['2001:db8::7/2001:db8::8', 'not a private address'],
  ])('refuses externalIp %s: its private half is %s', (externalIp, why) => {
    const msg = error({ ...HOST, externalIp });
    expect(msg).toContain(`that is ${why}: Coturn lets clients relay to the private half`);
    expect(msg).toContain('10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10 or fc00::/7');
    // The fix keeps the public half, with a private one of its IP version.
    expect(msg).toMatch(
      externalIp.startsWith('2001:')
        ? /pulumi config set turnkey:externalIp 2001:db8::7\/fd00::5`$/
        : /pulumi config set turnkey:externalIp 198\.51\.100\.7\/10\.0\.0\.5`$/,
    );
  });

  it.each([
    '203.0.113.7/10.0.0.5',
    '203.0.113.7/172.31.255.1',
    '203.0.113.7/192.168.1.4',
    '203.0.113.7/100.64.0.9',
    '2001:db8::7/fd00::5',
  ])('accepts externalIp %s (a private half the NAT forwards to)', (externalIp) => {
    expect(read({ ...HOST, externalIp }).externalIp).toBe(externalIp);
  });

  it('refuses both kinds of Metered key at once, saying which is which', () => {
    const metered = { ...HOST, provider: 'metered', meteredApiUrl: 'https://app.metered.live' };
    expect(error(metered, ['meteredApiKey', 'meteredCredentialApiKey'])).toMatch(
      /^turnkey:meteredApiKey and turnkey:meteredCredentialApiKey are both set: keep meteredApiKey for Metered's Secret Key \(Dashboard → Developers.*meteredCredentialApiKey for one credential's API Key \(Dashboard → TURN Server.*pulumi config rm/,
    );
  });

  it('names the missing half of a TLS pair', () => {
    expect(error(HOST, ['tlsCert'])).toMatch(
      /^turnkey:tlsKey is required when turnkey:tlsCert is set: run `cat key\.pem \| pulumi config set --secret turnkey:tlsKey`$/,
    );
  });
});

describe('turnkey:platform', () => {
  it('is the Docker host’s platform, taken as given', () => {
    expect(read({ ...HOST, platform: 'linux/arm64' }).platform).toBe('linux/arm64');
    expect(read({ ...HOST, platform: 'linux/arm/v7' }).platform).toBe('linux/arm/v7');
  });

  it('refuses what is not a Linux OS/architecture, with the command that fixes it', () => {
    expect(error({ ...HOST, platform: 'arm64' })).toBe(
      'turnkey:platform must be the Docker host\'s OS/architecture, like linux/amd64 or linux/arm64, got "arm64": run `pulumi config set turnkey:platform linux/arm64`',
    );
    expect(error({ ...HOST, platform: 'darwin/arm64' })).toMatch(/^turnkey:platform must be/);
  });
});

describe('secret keys set without --secret', () => {
  // What the Pulumi CLI tells the program: which keys it stored encrypted.
  const readWith = (values: Record<string, string>, encrypted: string[]) =>
    readStackConfig({
      ...valuesSource(values),
      isSecret: (k) => encrypted.includes(k),
    });
  const METERED = {
    provider: 'metered',
    publicHost: 'x.example.com',
    meteredApiUrl: 'https://a.metered.live',
  };

  it('refuses each one in plaintext, naming the key and the --secret command', () => {
    expect(() => readWith({ ...METERED, meteredApiKey: 'k' }, [])).toThrow(
      'turnkey:meteredApiKey is stored in plaintext in Pulumi.<stack>.yaml: set it again encrypted: run `pulumi config set --secret turnkey:meteredApiKey <your Metered secret key>`',
    );
    const tls = { ...HOST, tlsCert: 'CERT', tlsKey: 'KEY' };
    expect(() => readWith(tls, ['tlsCert'])).toThrow(
      'turnkey:tlsKey is stored in plaintext in Pulumi.<stack>.yaml: set it again encrypted: run `cat privkey.pem | pulumi config set --secret turnkey:tlsKey`',
    );
    expect(() => readWith(tls, ['tlsKey'])).toThrow(
      /^turnkey:tlsCert is stored in plaintext.*`cat fullchain\.pem \| pulumi config set --secret turnkey:tlsCert`$/,
    );
  });

  it('accepts them encrypted', () => {
    expect(readWith({ ...METERED, meteredApiKey: 'k' }, ['meteredApiKey']).provider).toBe(
      'metered',
    );
    expect(readWith({ ...HOST, tlsCert: 'C', tlsKey: 'K' }, ['tlsCert', 'tlsKey']).tls).toBe(true);
  });
});
