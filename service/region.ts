/**
 * A fleet's region label (`turnkey:relays[i].region`, TURN_RELAYS, `?region=`): lowercase
 * letters, digits and `-`, starting with a letter, at most 24 (it also names the relay's
 * containers, `turnkey-<region>-<stack>-coturn`, which Docker limits).
 */
export const REGION_LABEL = /^[a-z][a-z0-9-]{0,23}$/;
