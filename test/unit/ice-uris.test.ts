import { describe, expect, it } from 'vitest';
import { parseIceUri, splitList, stunUrisFromTurn } from '../../contract';

describe('parseIceUri', () => {
  it.each([
    [
      'turn:relay.example.com',
      { scheme: 'turn', host: 'relay.example.com', port: 3478, transport: 'udp' },
    ],
    [
      'turn:203.0.113.7:3479?transport=tcp',
      { scheme: 'turn', host: '203.0.113.7', port: 3479, transport: 'tcp' },
    ],
    [
      'turns:relay.example.com',
      { scheme: 'turns', host: 'relay.example.com', port: 5349, transport: 'tcp' },
    ],
    ['stun:[2001:db8::1]:3478', { scheme: 'stun', host: '2001:db8::1', port: 3478 }],
  ])('parses %s', (uri, expected) => {
    expect(parseIceUri(uri)).toMatchObject({ ...expected, uri });
  });

  it.each([
    'http://x',
    'turn://relay.example.com',
    'turn:relay.example.com:99999',
    'stun:x?transport=udp',
    'turn:a b',
  ])('rejects %s with an example of the right form', (uri) => {
    expect(() => parseIceUri(uri)).toThrow(/turn:|stun:|port|transport/);
  });
});

describe('stunUrisFromTurn', () => {
  it('derives one stun: URI per plain TURN host:port', () => {
    const uris = [
      'turn:h:3478?transport=udp',
      'turn:h:3478?transport=tcp',
      'turns:h:5349',
      'turn:[::1]:3479',
    ].map(parseIceUri);
    expect(stunUrisFromTurn(uris)).toEqual(['stun:h:3478', 'stun:[::1]:3479']);
  });
});

describe('splitList', () => {
  it('trims and drops blanks', () => {
    expect(splitList(' a, ,b ,')).toEqual(['a', 'b']);
  });
});
