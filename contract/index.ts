/**
 * What infra/ and service/ share and neither owns: the settings table, the containers' env,
 * URI, address, region, user-id and Metered rules. Imports neither side.
 */
export * from './addresses';
export * from './env';
export * from './fleet';
export * from './ice-uris';
export * from './metered';
export * from './settings';
export * from './user-id';
