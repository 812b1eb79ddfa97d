/**
 * The API's HTTPS handshake: forward secrecy only. TLS 1.3's suites all have it; on TLS 1.2
 * only ECDHE with an AEAD cipher (Mozilla's "intermediate" list), so no static-RSA key
 * exchange (a stolen key would decrypt recorded traffic) and no CBC. TLS 1.0/1.1 are refused.
 */
export const TLS_OPTIONS = {
  minVersion: 'TLSv1.2',
  ciphers: [
    'TLS_AES_128_GCM_SHA256',
    'TLS_AES_256_GCM_SHA384',
    'TLS_CHACHA20_POLY1305_SHA256',
    'ECDHE-ECDSA-AES128-GCM-SHA256',
    'ECDHE-RSA-AES128-GCM-SHA256',
    'ECDHE-ECDSA-AES256-GCM-SHA384',
    'ECDHE-RSA-AES256-GCM-SHA384',
    'ECDHE-ECDSA-CHACHA20-POLY1305',
    'ECDHE-RSA-CHACHA20-POLY1305',
  ].join(':'),
  honorCipherOrder: true,
} as const;
