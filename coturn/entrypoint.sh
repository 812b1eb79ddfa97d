#!/bin/sh
# Starts turnserver with its secrets in a private config file, never on its command line or
# left in its environment. turnserver does not expand ${VAR} in its config, so the shipped
# turnserver.conf is copied and the per-deployment lines are appended here.
#
# Environment (each secret also as <NAME>_FILE, the path of a file holding it):
#   TURN_SECRET             current static-auth-secret (required)
#   TURN_SECRET_PREVIOUS    earlier secrets still accepted, comma- or newline-separated
#                           (rotation: credentials already handed out keep working)
#   TURN_REALM              realm (default: turnkey)
#   TURN_PORT               listening port for UDP and TCP (default 3478)
#   TURN_TLS_PORT           TLS listening port (default 5349), used with the two below
#   TURN_TLS_CERT_FILE, TURN_TLS_KEY_FILE   PEM files; both set turns TLS (turns:) on
#   TURN_RELAY_PORTS        relay port range, MIN-MAX (default 49152-65535)
#   TURN_USER_QUOTA, TURN_TOTAL_QUOTA   allocations per username / in all (default: the
#                           shipped config's); TURN_MAX_BPS bytes per second per session
#   EXTERNAL_IP             PUBLIC/PRIVATE, for a host behind 1:1 NAT
#   TURN_LISTENING_IPS, TURN_RELAY_IPS     comma-separated; default: all interfaces
#   TURN_METRICS_ADDRESS, TURN_METRICS_PORT  Prometheus exporter, where the build has one
#                           (default 127.0.0.1:9641: with host networking, never public)
#   TURN_BASE_CONFIG        the shipped config (default /etc/coturn/turnserver.conf)
#   TURN_EXTRA_CONFIG_FILE  appended last; tests use it for a loopback-peer overlay
#   TURN_RUNTIME_DIR        where the private config goes (default: a new dir under TMPDIR)
#   TURNSERVER              the binary (default: turnserver)
# Any arguments are passed on to turnserver.
set -eu
# No pathname expansion: secret and address lists are word-split below, and a `*` in one must
# stay a character (refused by the checks), not become the names of files in the working dir.
set -f
umask 077

die() {
  echo "turnkey-coturn: $*" >&2
  exit 64
}

# shown VALUE: VALUE fit for a one-line message (anything unusual becomes ?).
shown() {
  printf '%s' "$1" | tr -c 'A-Za-z0-9._:,/-' '?'
}

# read_secret NAME: sets $value to NAME, or to the content of the file named by NAME_FILE.
# (Not a $(...) substitution: die there would only leave the subshell.)
read_secret() {
  eval "direct=\${$1:-}; file=\${$1_FILE:-}"
  if [ -n "$direct" ] && [ -n "$file" ]; then die "$1 and $1_FILE are both set: keep only one"; fi
  if [ -n "$file" ]; then
    [ -r "$file" ] || die "$1_FILE names a file that cannot be read: $(shown "$file")"
    value=$(cat "$file")
  else
    value=$direct
  fi
}

# A secret becomes a config line, so it must not be able to start another line or a comment.
# turnserver reads its config with fgets into 1,024 bytes and parses the rest of a longer line
# as a line of its own, logging it as "Bad configuration format: <rest>"; and it skips every
# '=' (and blank) after the option name, so "static-auth-secret==x" means the secret "x"
# (coturn src/apps/relay/mainrelay.c: read_config_file, parse_arg_string). Either way the relay
# would not use the secret the service signs with.
check_secret() {
  case "$2" in
    '') die "$1 is empty: set it to the shared secret (e.g. openssl rand -hex 32)" ;;
    *[!A-Za-z0-9._~+/=-]*) die "$1 may contain only letters, digits and . _ ~ + / = - (base64 or hex)" ;;
    =*) die "$1 must not start with '=': turnserver drops leading '=' from config values, so the relay and the service would disagree on the secret" ;;
  esac
  [ "${#2}" -ge 32 ] || die "$1 is too short: use at least 32 characters (e.g. openssl rand -hex 32)"
  [ "${#2}" -le 256 ] || die "$1 is too long: use at most 256 characters (e.g. openssl rand -hex 32)"
}

port() {
  case "$2" in
    '' | *[!0-9]*) die "$1 must be a port number, got \"$(shown "$2")\"" ;;
  esac
  [ "$2" -ge 1 ] && [ "$2" -le 65535 ] || die "$1 must be from 1 to 65535, got $2"
}

# count NAME VALUE MIN: a whole number from MIN up to what turnserver's atoi can hold.
count() {
  case "$2" in
    '' | *[!0-9]*) die "$1 must be a whole number, got \"$(shown "$2")\"" ;;
  esac
  [ "${#2}" -le 10 ] && [ "$2" -ge "$3" ] && [ "$2" -le 2147483647 ] || die "$1 must be from $3 to 2147483647, got $2"
}

# Addresses go into config lines too: IPv4/IPv6 characters only.
address_list() {
  case "$2" in
    *[!0-9A-Fa-f.:,/]*) die "$1 must be IP addresses, comma-separated, got \"$(shown "$2")\"" ;;
  esac
}

# private_half_problem IP: sets $problem to why IP cannot be the private half of EXTERNAL_IP,
# or to nothing. Coturn adds the private half to its allowed peers, which it checks before
# denied-peer-ip, and a range whose lower end is the zero address matches every peer
# (mainrelay.c `case 'X'`, ns_turn_ioaddr.c ioa_addr_in_range): only one private address the
# NAT forwards to keeps the deny list whole. infra/stack/read.ts applies the same rule
# (contract/addresses.ts privateHalfProblem).
private_half_problem() {
  problem=
  case "$1" in
    *:*)
      # IPv6: fc00::/7 only. The first group decides; a form starting with :: has a zero one.
      first=${1%%:*}
      case "$first" in '') first=0 ;; ????? | *[!0-9A-Fa-f]*)
        problem='not an IP address'
        return
        ;;
      esac
      group=$((0x$first))
      # ::1 however spelt: only zero groups before a last group of 1.
      last=${1##*:}
      case "${1%:*}" in *[!0:]*) ;; *) [ "${last#"${last%%[!0]*}"}" != 1 ] || {
        problem='a loopback address'
        return
      } ;;
      esac
      case "$1" in *[!0:]*) ;; *) problem='the unspecified address' && return ;; esac
      if [ $((group & 0xffc0)) -eq $((0xfe80)) ]; then
        problem='a link-local address'
      elif [ $((group & 0xff00)) -eq $((0xff00)) ]; then
        problem='a multicast address'
      elif [ $((group & 0xfe00)) -ne $((0xfc00)) ]; then
        problem='not a private address'
      fi
      ;;
    *.*.*.*)
      case "$1" in *[!0-9.]* | *..* | .* | *.) problem='not an IP address' && return ;; esac
      case "$1" in *.*.*.*.*) problem='not an IP address' && return ;; esac
      rest=${1#*.}
      set -- "${1%%.*}" "${rest%%.*}" "$(r=${rest#*.} && echo "${r%%.*}")" "${rest##*.}"
      for octet in "$@"; do
        # No leading zeros: turnserver's inet_pton would refuse the address and go on without it.
        case "$octet" in '' | 0?*) octet=256 ;; esac
        [ "${#octet}" -le 3 ] && [ "$octet" -le 255 ] || {
          problem='not an IP address'
          return
        }
      done
      if [ "$1" -eq 0 ]; then
        problem='the unspecified ("this network") address'
      elif [ "$1" -eq 127 ]; then
        problem='a loopback address'
      elif [ "$1" -eq 169 ] && [ "$2" -eq 254 ]; then
        problem='a link-local address'
      elif [ "$1" -ge 224 ] && [ "$1" -le 239 ]; then
        problem='a multicast address'
      elif [ "$1.$2.$3.$4" = 255.255.255.255 ]; then
        problem='the broadcast address'
      elif [ "$1" -eq 10 ] || { [ "$1" -eq 172 ] && [ "$2" -ge 16 ] && [ "$2" -le 31 ]; } ||
        { [ "$1" -eq 192 ] && [ "$2" -eq 168 ]; } || { [ "$1" -eq 100 ] && [ "$2" -ge 64 ] && [ "$2" -le 127 ]; }; then
        :
      else
        problem='not a private address'
      fi
      ;;
    *) problem='not an IP address' ;;
  esac
}

# line NAME LINE: writes LINE, built from NAME, to the config. turnserver reads its config in
# 1,023-byte pieces and parses the rest of a longer line as an option of its own
# (mainrelay.c read_config_file: fgets into sbuf[1025]), and a line break starts one too: a
# long realm or file path could smuggle in e.g. server-relay.
line() {
  case "$2" in *"$cr"* | *"$nl"*) die "$1 must not contain a line break" ;; esac
  [ "$(printf '%s' "$2" | wc -c)" -le 1000 ] || die "$1 is too long: the config line it makes must stay within 1,000 bytes"
  printf '%s\n' "$2"
}

cr=$(printf '\r')
nl='
'
read_secret TURN_SECRET
current=${value%"$cr"}
[ -n "$current" ] || die "TURN_SECRET is required: set TURN_SECRET or TURN_SECRET_FILE to the secret the credential service signs with"
check_secret TURN_SECRET "$current"
read_secret TURN_SECRET_PREVIOUS
previous=$(printf '%s' "$value" | tr ',\r' '\n\n' | sed '/^[[:space:]]*$/d;s/^[[:space:]]*//;s/[[:space:]]*$//')
for s in $previous; do check_secret TURN_SECRET_PREVIOUS "$s"; done
unset TURN_SECRET TURN_SECRET_PREVIOUS value direct

realm=${TURN_REALM:-turnkey}
case "$realm" in *[!A-Za-z0-9.-]*) die "TURN_REALM must be a domain-like name (letters, digits, . -), got \"$(shown "$realm")\"" ;; esac
# STUN's REALM is fewer than 128 characters (RFC 8489 section 14.9; contract MAX_REALM_LENGTH).
[ "${#realm}" -le 127 ] || die "TURN_REALM must be at most 127 characters, got ${#realm} (turnkey:realm)"
listen_port=${TURN_PORT:-3478}
port TURN_PORT "$listen_port"
relay_ports=${TURN_RELAY_PORTS:-49152-65535}
min_port=${relay_ports%-*}
max_port=${relay_ports#*-}
port "TURN_RELAY_PORTS (MIN-MAX)" "$min_port"
port "TURN_RELAY_PORTS (MIN-MAX)" "$max_port"
[ "$min_port" -le "$max_port" ] || die "TURN_RELAY_PORTS must be MIN-MAX with MIN <= MAX, got $(shown "$relay_ports")"
# Limits from the stack override the shipped config's: turnserver keeps an option's last value.
# 0 would mean "no limit" to turnserver, so each is at least 1.
[ -z "${TURN_USER_QUOTA:-}" ] || count TURN_USER_QUOTA "$TURN_USER_QUOTA" 1
[ -z "${TURN_TOTAL_QUOTA:-}" ] || count TURN_TOTAL_QUOTA "$TURN_TOTAL_QUOTA" 1
[ -z "${TURN_MAX_BPS:-}" ] || count TURN_MAX_BPS "$TURN_MAX_BPS" 1

base=${TURN_BASE_CONFIG:-/etc/coturn/turnserver.conf}
[ -r "$base" ] || die "TURN_BASE_CONFIG names a file that cannot be read: $(shown "$base")"
turnserver=${TURNSERVER:-turnserver}
dir=${TURN_RUNTIME_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/turnkey-coturn.XXXXXX")}
mkdir -p "$dir"
conf="$dir/turnserver.conf"

{
  cat "$base"
  echo
  echo "# --- written by the entrypoint ---"
  line TURN_REALM "realm=$realm"
  echo "listening-port=$listen_port"
  echo "min-port=$min_port"
  echo "max-port=$max_port"
  line TURN_RUNTIME_DIR "pidfile=$dir/turnserver.pid"
  echo "static-auth-secret=$current"
  for s in $previous; do echo "static-auth-secret=$s"; done
  [ -z "${TURN_USER_QUOTA:-}" ] || echo "user-quota=$TURN_USER_QUOTA"
  [ -z "${TURN_TOTAL_QUOTA:-}" ] || echo "total-quota=$TURN_TOTAL_QUOTA"
  [ -z "${TURN_MAX_BPS:-}" ] || echo "max-bps=$TURN_MAX_BPS"

  if [ -n "${TURN_TLS_CERT_FILE:-}" ] || [ -n "${TURN_TLS_KEY_FILE:-}" ]; then
    [ -r "${TURN_TLS_CERT_FILE:-}" ] || die "TURN_TLS_CERT_FILE names a file that cannot be read: $(shown "${TURN_TLS_CERT_FILE:-(unset)}")"
    [ -r "${TURN_TLS_KEY_FILE:-}" ] || die "TURN_TLS_KEY_FILE names a file that cannot be read: $(shown "${TURN_TLS_KEY_FILE:-(unset)}")"
    tls_port=${TURN_TLS_PORT:-5349}
    port TURN_TLS_PORT "$tls_port"
    echo "tls-listening-port=$tls_port"
    line TURN_TLS_CERT_FILE "cert=$TURN_TLS_CERT_FILE"
    line TURN_TLS_KEY_FILE "pkey=$TURN_TLS_KEY_FILE"
  else
    echo "no-tls"
  fi

  if [ -n "${EXTERNAL_IP:-}" ]; then
    address_list EXTERNAL_IP "$EXTERNAL_IP"
    # With the public address alone Coturn maps a peer at it back to its private relay
    # address, which the deny list refuses: clients relaying through here could not reach
    # each other. PUBLIC/PRIVATE maps the same way and allows PRIVATE as a peer.
    case "$EXTERNAL_IP" in
      */*) ;;
      *) die "EXTERNAL_IP must be PUBLIC/PRIVATE behind 1:1 NAT, not the public IP alone: set EXTERNAL_IP=$(shown "$EXTERNAL_IP")/<the private IP the NAT forwards to> (turnkey:externalIp), or unset it on a host that has its public IP itself" ;;
    esac
    private_half_problem "${EXTERNAL_IP#*/}"
    [ -z "$problem" ] || die "EXTERNAL_IP's private half ($(shown "${EXTERNAL_IP#*/}")) is $problem: Coturn lets clients relay to it before it checks its deny list, so it must be the one private address the NAT forwards to, in 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10 or fc00::/7 (turnkey:externalIp)"
    line EXTERNAL_IP "external-ip=$EXTERNAL_IP"
  fi
  if [ -n "${TURN_LISTENING_IPS:-}" ]; then
    address_list TURN_LISTENING_IPS "$TURN_LISTENING_IPS"
    for ip in $(echo "$TURN_LISTENING_IPS" | tr ',' ' '); do line TURN_LISTENING_IPS "listening-ip=$ip"; done
  fi
  if [ -n "${TURN_RELAY_IPS:-}" ]; then
    address_list TURN_RELAY_IPS "$TURN_RELAY_IPS"
    for ip in $(echo "$TURN_RELAY_IPS" | tr ',' ' '); do line TURN_RELAY_IPS "relay-ip=$ip"; done
  fi

  # Debian's build has no exporter; the official image's has, and would listen on every
  # interface unless told otherwise.
  if "$turnserver" -h 2>&1 | grep -q -- '--prometheus-address'; then
    metrics_address=${TURN_METRICS_ADDRESS:-127.0.0.1}
    metrics_port=${TURN_METRICS_PORT:-9641}
    address_list TURN_METRICS_ADDRESS "$metrics_address"
    port TURN_METRICS_PORT "$metrics_port"
    echo "prometheus"
    echo "prometheus-address=$metrics_address"
    echo "prometheus-port=$metrics_port"
  else
    echo "turnkey-coturn: this turnserver build has no Prometheus exporter; metrics are off" >&2
  fi

  if [ -n "${TURN_EXTRA_CONFIG_FILE:-}" ]; then
    [ -r "$TURN_EXTRA_CONFIG_FILE" ] || die "TURN_EXTRA_CONFIG_FILE names a file that cannot be read: $(shown "$TURN_EXTRA_CONFIG_FILE")"
    echo "# --- TURN_EXTRA_CONFIG_FILE ---"
    cat "$TURN_EXTRA_CONFIG_FILE"
  fi
} >"$conf"

exec "$turnserver" -c "$conf" "$@"
