#!/bin/sh
# Starts turnserver with its secrets in a private SQLite database (Coturn's userdb), never on
# its command line or left in its environment; the admin CLI's password alone is a line of the
# private config, which sits with the database in a directory only turnserver's user reads.
# turnserver does not expand ${VAR} in its config, so the shipped turnserver.conf is copied and
# the per-deployment lines are appended here.
#
# Secrets and the certificate can change under a running relay: static-auth-secret lines are
# read once, but Coturn reads the database's turn_secret rows on every new authentication
# (userdb.c get_auth_secrets, dbd_sqlite.c sqlite_get_auth_secrets), and SIGUSR2 makes it
# re-read its certificate and key (mainrelay.c reload_ssl_certs). So when the secrets or the
# TLS files come from files, a watcher (this script again, with TURNKEY_WATCH_PID) checks
# them every TURNKEY_WATCH_INTERVAL seconds (default 2) and applies a change that has held for
# one interval: the secret set to the database, the certificate by SIGUSR2. A change it cannot
# apply keeps what is loaded and logs one line naming the variable, the file and the cause.
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
#   EXTERNAL_IP             PUBLIC/PRIVATE, for a host behind 1:1 NAT; an IPv4 and an IPv6
#                           pair comma-separated where the NAT maps both versions
#   TURN_LISTENING_IPS, TURN_RELAY_IPS     comma-separated; default: all interfaces
#   TURN_ALLOWED_PEER_IPS   private CIDR ranges peers may be in although the deny list refuses
#                           them (private networks), comma-separated
#   RELAY_SECRETS_DIR       where the credential service writes the files above: waited for
#   TURN_CLI_PASSWORD_FILE, TURN_CLI_PORT   the admin CLI on 127.0.0.1 (default port 5766),
#                           for ending revoked users' sessions; unset: no CLI
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

# read_secret NAME: sets $value to NAME, or to the content of the file named by NAME_FILE;
# $problem says why it could not. (Not a $(...) substitution: the watcher must go on.)
read_secret() {
  eval "direct=\${$1:-}; file=\${$1_FILE:-}"
  value= problem=
  if [ -n "$direct" ] && [ -n "$file" ]; then
    problem="$1 and $1_FILE are both set: keep only one"
  elif [ -n "$file" ]; then
    if [ -r "$file" ]; then value=$(cat "$file"); else problem="$1_FILE names a file that cannot be read: $(shown "$file")"; fi
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
# The same rules hold in the database: a secret goes into an SQL string literal there, so it
# must not be able to end it either.
secret_problem() {
  problem=
  case "$2" in
    '') problem="$1 is empty: set it to the shared secret (e.g. openssl rand -hex 32)" ;;
    *[!A-Za-z0-9._~+/=-]*) problem="$1 may contain only letters, digits and . _ ~ + / = - (base64 or hex)" ;;
    =*) problem="$1 must not start with '=': turnserver drops leading '=' from config values, so the relay and the service would disagree on the secret" ;;
    *)
      if [ "${#2}" -lt 32 ]; then
        problem="$1 is too short: use at least 32 characters (e.g. openssl rand -hex 32)"
      elif [ "${#2}" -gt 256 ]; then
        problem="$1 is too long: use at most 256 characters (e.g. openssl rand -hex 32)"
      fi
      ;;
  esac
}

# read_secret_set: sets $current and $previous (one per line) from TURN_SECRET(_FILE) and
# TURN_SECRET_PREVIOUS(_FILE), checked; $problem says what is wrong with them.
read_secret_set() {
  current= previous=
  read_secret TURN_SECRET
  [ -z "$problem" ] || return 0
  current=${value%"$cr"}
  if [ -z "$current" ]; then
    problem="TURN_SECRET is required: set TURN_SECRET or TURN_SECRET_FILE to the secret the credential service signs with"
    return 0
  fi
  secret_problem TURN_SECRET "$current"
  [ -z "$problem" ] || return 0
  read_secret TURN_SECRET_PREVIOUS
  [ -z "$problem" ] || return 0
  previous=$(printf '%s' "$value" | tr ',\r' '\n\n' | sed '/^[[:space:]]*$/d;s/^[[:space:]]*//;s/[[:space:]]*$//')
  for s in $previous; do
    secret_problem TURN_SECRET_PREVIOUS "$s"
    [ -z "$problem" ] || return 0
  done
}

# store_secrets DB: replaces the realm's secret set in DB in one transaction, through sqlite3's
# standard input (never its command line). WAL: turnserver's reads neither wait for this write
# nor see half of it.
store_secrets() {
  {
    echo ".timeout 5000"
    echo "PRAGMA journal_mode=WAL;"
    echo "CREATE TABLE IF NOT EXISTS turn_secret (realm varchar(127) default '', value varchar(127), primary key (realm,value));"
    echo "BEGIN IMMEDIATE;"
    echo "DELETE FROM turn_secret WHERE realm='$realm';"
    for s in $current $previous; do echo "INSERT OR REPLACE INTO turn_secret (realm, value) VALUES ('$realm', '$s');"; done
    echo "COMMIT;"
    # The runtime dir is a small tmpfs: fold the log back so it never grows with rotations.
    echo "PRAGMA wal_checkpoint(TRUNCATE);"
  } | sqlite3 -bail "$1" >/dev/null
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

# loopback_only: whether every address turnserver listens and relays on is loopback (127/8,
# ::1) and it announces no external address. Unset TURN_LISTENING_IPS means every interface;
# unset TURN_RELAY_IPS, the address each client came in on (Coturn's default), so loopback too.
loopback_only() {
  [ -n "${TURN_LISTENING_IPS:-}" ] && [ -z "${EXTERNAL_IP:-}" ] || return 1
  for ip in $(echo "$TURN_LISTENING_IPS,${TURN_RELAY_IPS:-}" | tr ',' ' '); do
    private_half_problem "$ip"
    [ "$problem" = 'a loopback address' ] || return 1
  done
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

# v4_number ADDRESS: sets $n to the dotted IPv4 ADDRESS as a number, or $problem.
v4_number() {
  n=0 problem=
  case "$1" in
    *[!0-9.]* | *..* | .* | *. | *.*.*.*.*) problem='not an IP address' ;;
    *.*.*.*)
      for octet in $(echo "$1" | tr . ' '); do
        case "$octet" in 0?*) octet=256 ;; esac
        [ "${#octet}" -le 3 ] && [ "$octet" -le 255 ] || problem='not an IP address'
        n=$((n * 256 + octet))
      done
      ;;
    *) problem='not an IP address' ;;
  esac
}

# ip_version ADDRESS: sets $version to 4 or 6, or to nothing when ADDRESS is neither.
ip_version() {
  version=
  case "$1" in
    *:*)
      v6=$1
      # An embedded IPv4 tail (::ffff:10.0.0.5) stands for two groups.
      case "$v6" in *.*)
        v4_number "${v6##*:}"
        [ -z "$problem" ] || return 0
        v6="${v6%:*}:0:0"
        ;;
      esac
      case "$v6" in *[!0-9A-Fa-f:]* | *:::* | *::*::* | :[!:]* | *[!:]:) return 0 ;; esac
      groups=0
      for group in $(echo "$v6" | tr ':' ' '); do
        [ "${#group}" -le 4 ] || return 0
        groups=$((groups + 1))
      done
      case "$v6" in
        *::*) [ "$groups" -le 7 ] || return 0 ;;
        *) [ "$groups" -eq 8 ] || return 0 ;;
      esac
      version=6
      ;;
    *)
      v4_number "$1"
      [ -n "$problem" ] || version=4
      ;;
  esac
}

# external_ip_problem VALUE: sets $problem to why VALUE cannot be EXTERNAL_IP (a whole message),
# or to nothing. One PUBLIC/PRIVATE pair, or two comma-separated, one per IP version: Coturn
# takes any number of external-ip=PUBLIC/PRIVATE lines, a mapping each (mainrelay.c `case 'X'`,
# ns_turn_ioaddr.c ioa_addr_add_mapping), but a host has one public address per version, and
# every private half is one more allowed peer. infra/stack/read.ts checkExternalIp applies the
# same rule.
external_ip_problem() {
  problem=
  case "$1" in ,* | *, | *,,*)
    problem="EXTERNAL_IP has an empty entry (\"$(shown "$1")\"): write one PUBLIC/PRIVATE pair, or two separated by one comma (one IPv4, one IPv6) (turnkey:externalIp)"
    return
    ;;
  esac
  commas=$(printf '%s' "$1" | tr -cd ,)
  [ "${#commas}" -le 1 ] || {
    problem="EXTERNAL_IP has $((${#commas} + 1)) pairs (\"$(shown "$1")\"): write at most two, one IPv4 PUBLIC/PRIVATE pair and one IPv6 (turnkey:externalIp)"
    return
  }
  versions=
  for pair in $(echo "$1" | tr ',' ' '); do
    ip_version "${pair%%/*}"
    case "$pair" in */*/*) version= ;; esac
    [ -n "$version" ] || {
      problem="EXTERNAL_IP must be PUBLIC/PRIVATE for 1:1 NAT, one pair or two comma-separated (one IPv4, one IPv6), got \"$(shown "$1")\" (turnkey:externalIp)"
      return
    }
    # With the public address alone Coturn maps a peer at it back to its private relay
    # address, which the deny list refuses: clients relaying through here could not reach
    # each other. PUBLIC/PRIVATE maps the same way and allows PRIVATE as a peer.
    case "$pair" in */*) ;; *)
      fixed=
      for other in $(echo "$1" | tr ',' ' '); do
        shown_other=$(shown "$other")
        [ "$other" != "$pair" ] || shown_other="$shown_other/<the private IP the NAT forwards to>"
        fixed="${fixed:+$fixed,}$shown_other"
      done
      problem="EXTERNAL_IP must be PUBLIC/PRIVATE behind 1:1 NAT, not the public IP alone (\"$(shown "$pair")\"): set EXTERNAL_IP=$fixed (turnkey:externalIp), or unset it on a host that has its public IP itself"
      return
      ;;
    esac
    private=${pair#*/}
    # By its form alone, so that a mistyped private half is named as such below.
    case "$private" in *:*) private_version=6 ;; *) private_version=4 ;; esac
    [ "$private_version" = "$version" ] || {
      problem="EXTERNAL_IP has a pair that mixes IP versions (\"$(shown "$pair")\"): each PUBLIC/PRIVATE pair must be of one IP version (an IPv4 and an IPv6 pair go comma-separated, like 203.0.113.7/10.0.0.5,2001:db8::7/fd00::5) (turnkey:externalIp)"
      return
    }
    private_half_problem "$private"
    # private_half_problem judges an IPv6 address by its first group alone.
    if [ -z "$problem" ] && [ "$private_version" = 6 ]; then
      ip_version "$private"
      [ -n "$version" ] || problem='not an IP address'
    fi
    [ -z "$problem" ] || {
      problem="EXTERNAL_IP's private half ($(shown "$private")) is $problem: Coturn lets clients relay to it before it checks its deny list, so it must be the one private address the NAT forwards to, in 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10 or fc00::/7 (turnkey:externalIp)"
      return
    }
    case " $versions " in *" $private_version "*)
      problem="EXTERNAL_IP has two IPv$private_version pairs (\"$(shown "$1")\"): write one PUBLIC/PRIVATE pair per IP version, one IPv4 and one IPv6 (the NAT forwards one public address of each to this host) (turnkey:externalIp)"
      return
      ;;
    esac
    versions="$versions $private_version"
  done
}

v4_text() {
  echo "$(($1 >> 24 & 255)).$(($1 >> 16 & 255)).$(($1 >> 8 & 255)).$(($1 & 255))"
}

# public_address IP: whether IP is one a peer anywhere could reach: outside every range the
# shipped turnserver.conf denies as a peer (test/unit/relay-addresses.test.ts holds the two
# together).
public_address() {
  case "$1" in
    *:*)
      # Expand the first two groups; a form starting with :: has zero ones.
      rest=$1
      case "$rest" in ::*) g1=0 g2=0 ;; *)
        g1=${rest%%:*}
        rest=${rest#*:}
        case "$rest" in :*) g2=0 ;; *) g2=${rest%%:*} ;; esac
        ;;
      esac
      case "$g1$g2" in '' | *[!0-9A-Fa-f]*) return 1 ;; esac
      [ "${#g1}" -le 4 ] && [ "${#g2}" -le 4 ] || return 1
      g1=$((0x$g1)) g2=$((0x${g2:-0}))
      # Global unicast only (2000::/3), less what IANA keeps out of it.
      [ $((g1 & 0xe000)) -eq $((0x2000)) ] || return 1
      [ "$g1" -eq $((0x2001)) ] && [ "$g2" -lt $((0x200)) ] && return 1
      [ "$g1" -eq $((0x2001)) ] && [ "$g2" -eq $((0xdb8)) ] && return 1
      [ "$g1" -eq $((0x2002)) ] && return 1
      [ "$g1" -eq $((0x3fff)) ] && [ "$g2" -lt $((0x1000)) ] && return 1
      return 0
      ;;
  esac
  case "$1" in *.*.*.*.* | *[!0-9.]* | .* | *. | *..*) return 1 ;; *.*.*.*) ;; *) return 1 ;; esac
  a=${1%%.*} rest=${1#*.}
  b=${rest%%.*} rest=${rest#*.}
  c=${rest%%.*}
  case "$a" in 0 | 10 | 127) return 1 ;; esac
  [ "$a" -ge 224 ] && return 1
  [ "$a" -eq 100 ] && [ "$b" -ge 64 ] && [ "$b" -le 127 ] && return 1
  [ "$a" -eq 169 ] && [ "$b" -eq 254 ] && return 1
  [ "$a" -eq 172 ] && [ "$b" -ge 16 ] && [ "$b" -le 31 ] && return 1
  [ "$a" -eq 192 ] && [ "$b" -eq 168 ] && return 1
  [ "$a" -eq 192 ] && [ "$b" -eq 0 ] && { [ "$c" -eq 0 ] || [ "$c" -eq 2 ]; } && return 1
  [ "$a" -eq 192 ] && [ "$b" -eq 88 ] && [ "$c" -eq 99 ] && return 1
  [ "$a" -eq 198 ] && { [ "$b" -eq 18 ] || [ "$b" -eq 19 ]; } && return 1
  [ "$a" -eq 198 ] && [ "$b" -eq 51 ] && [ "$c" -eq 100 ] && return 1
  [ "$a" -eq 203 ] && [ "$b" -eq 0 ] && [ "$c" -eq 113 ] && return 1
  return 0
}

# default_relay_ips: sets $relay_ips to the addresses turnserver should relay from when the
# deployment names none (space-separated; empty: let Coturn choose). Without relay-ip lines
# Coturn relays from the address a client came in on, but hands a client that asks for the
# other family (a browser on an IPv6-only network gets an IPv4 relayed address, RFC 8656's
# default) whichever of the host's addresses of that family is next in turn
# (ns_ioalib_engine_impl.c ioa_engine_get_relay_addr): docker0's 172.17.0.1 or a private
# interface's as often as the public one, and no peer can reach those. So: each EXTERNAL_IP
# pair's private half (what the NAT forwards the public address to), and the host's public
# addresses of a family no pair covers.
default_relay_ips() {
  relay_ips=
  covered=
  for pair in $(echo "${EXTERNAL_IP:-}" | tr ',' ' '); do
    private=${pair#*/}
    relay_ips="$relay_ips $private"
    case "$private" in *:*) covered="$covered 6" ;; *) covered="$covered 4" ;; esac
  done
  # hostname -I: every address of every interface but loopback and IPv6 link-local.
  for ip in $(hostname -I 2>/dev/null || true); do
    case "$ip" in *:*) version=6 ;; *) version=4 ;; esac
    case "$covered" in *"$version"*) continue ;; esac
    if public_address "$ip"; then relay_ips="$relay_ips $ip"; fi
  done
  relay_ips=${relay_ips# }
}

# allowed_range_problem ENTRY: one TURN_ALLOWED_PEER_IPS entry (CIDR, or one address) as
# Coturn's allowed-peer-ip values, appended to $ranges (Coturn takes IP or IP-IP, "CIDR is not
# supported": userdb.c add_ip_list_range), or $problem saying why it cannot be allowed. Coturn
# checks this list before its deny list (ns_turn_server.c good_peer_addr), so an entry must lie
# inside one private IPv4 range, or be loopback on a loopback-only relay; Alibaba Cloud's
# metadata address 100.100.100.200 is left out of any range holding it. IPv6 unique-local peers
# Coturn 4.18 refuses before its allow list (ioa_addr_is_internal_deny_default). $lo_only is
# yes on a loopback-only relay. contract/addresses.ts allowedPeerRangeProblem is the same rule.
allowed_range_problem() {
  problem=
  net=${1%/*} prefix=
  case "$1" in */*) prefix=${1#*/} ;; esac
  case "$1" in */ | */*/*) problem='is not a CIDR range like 10.20.0.0/16' && return ;; esac
  case "$prefix" in *[!0-9]* | ????*) problem='is not a CIDR range like 10.20.0.0/16' && return ;; esac
  case "$net" in
    *:*)
      [ -n "$prefix" ] || prefix=128
      private_half_problem "$net"
      case "$problem" in
        'a loopback address')
          problem=
          [ "$prefix" -eq 128 ] && [ "$lo_only" = yes ] || problem='is loopback: only a relay that listens and relays on loopback alone (TURN_LISTENING_IPS 127.0.0.1) may reach loopback peers'
          [ -n "$problem" ] || ranges="$ranges $net"
          ;;
        'a link-local address') problem='is link-local, where cloud metadata services answer (169.254.169.254): never a relay peer' ;;
        '') [ "$(echo "$net" | tr A-F a-f)" = fd00:ec2::254 ] && problem='is a cloud metadata service, which no relay peer may reach' ||
          problem='is IPv6 unique-local (fc00::/7), which Coturn 4.18 never relays to, whatever its allow list says' ;;
        'not an IP address') problem='is not a CIDR range like 10.20.0.0/16' ;;
        *) problem="is not inside one private range ($allowable): public peers need no allowance, and a wider range would reopen the deny list (metadata, loopback, every other network)" ;;
      esac
      return
      ;;
  esac
  v4_number "$net"
  [ -z "$problem" ] || {
    problem='is not a CIDR range like 10.20.0.0/16'
    return
  }
  [ -n "$prefix" ] || prefix=32
  [ "$prefix" -le 32 ] || {
    problem='has a prefix longer than 32 bits'
    return
  }
  size=$((1 << (32 - prefix)))
  [ $((n % size)) -eq 0 ] || {
    problem="has bits set past its /$prefix: did you mean $(v4_text $((n - n % size)))/$prefix"
    return
  }
  start=$n end=$((n + size - 1)) metadata=$(((100 << 24) + (100 << 16) + (100 << 8) + 200))
  if [ "$start" -eq "$metadata" ] && [ "$end" -eq "$metadata" ]; then
    problem='is a cloud metadata service, which no relay peer may reach'
  elif [ $((start >> 16)) -eq $(((169 << 8) + 254)) ] && [ "$prefix" -ge 16 ]; then
    problem='is link-local, where cloud metadata services answer (169.254.169.254): never a relay peer'
  elif [ $((start >> 24)) -eq 127 ] && [ "$prefix" -ge 8 ]; then
    [ "$lo_only" = yes ] || problem='is loopback: only a relay that listens and relays on loopback alone (TURN_LISTENING_IPS 127.0.0.1) may reach loopback peers'
  elif { [ $((start >> 24)) -eq 10 ] && [ "$prefix" -ge 8 ]; } || { [ $((start >> 20)) -eq $(((172 << 4) + 1)) ] && [ "$prefix" -ge 12 ]; } ||
    { [ $((start >> 16)) -eq $(((192 << 8) + 168)) ] && [ "$prefix" -ge 16 ]; } || { [ $((start >> 22)) -eq $(((100 << 2) + 1)) ] && [ "$prefix" -ge 10 ]; }; then
    :
  else
    problem="is not inside one private range ($allowable): public peers need no allowance, and a wider range would reopen the deny list (metadata, loopback, every other network)"
  fi
  [ -z "$problem" ] || return 0
  if [ "$start" -le "$metadata" ] && [ "$metadata" -le "$end" ]; then
    [ "$start" -eq "$metadata" ] || ranges="$ranges $(v4_text "$start")-$(v4_text $((metadata - 1)))"
    [ "$end" -eq "$metadata" ] || ranges="$ranges $(v4_text $((metadata + 1)))-$(v4_text "$end")"
  elif [ "$start" -eq "$end" ]; then
    ranges="$ranges $(v4_text "$start")"
  else
    ranges="$ranges $(v4_text "$start")-$(v4_text "$end")"
  fi
}
allowable='10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or 100.64.0.0/10'

# line NAME LINE: writes LINE, built from NAME, to the config. turnserver reads its config in
# 1,023-byte pieces and parses the rest of a longer line as an option of its own
# (mainrelay.c read_config_file: fgets into sbuf[1025]), and a line break starts one too: a
# long realm or file path could smuggle in e.g. server-relay.
line() {
  case "$2" in *"$cr"* | *"$nl"*) die "$1 must not contain a line break" ;; esac
  [ "$(printf '%s' "$2" | wc -c)" -le 1000 ] || die "$1 is too long: the config line it makes must stay within 1,000 bytes"
  printf '%s\n' "$2"
}

# fingerprint FILE...: a checksum line per file ("missing" when it cannot be read).
fingerprint() {
  for f in "$@"; do if [ -r "$f" ]; then cksum <"$f"; else echo missing; fi; done
}

say() {
  echo "turnkey-coturn: $*" >&2
}

# tls_problem: sets $problem to why the certificate and key files cannot be loaded, or to
# nothing. turnserver would only log a failed reload and keep the old pair; saying so here
# names the file. With openssl at hand (the official image has it), also that the key is the
# certificate's.
tls_problem() {
  problem=
  if [ ! -r "$TURN_TLS_CERT_FILE" ]; then
    problem="TURN_TLS_CERT_FILE $(shown "$TURN_TLS_CERT_FILE"): cannot be read"
  elif [ ! -r "$TURN_TLS_KEY_FILE" ]; then
    problem="TURN_TLS_KEY_FILE $(shown "$TURN_TLS_KEY_FILE"): cannot be read"
  elif ! grep -q -- '-----BEGIN CERTIFICATE-----' "$TURN_TLS_CERT_FILE"; then
    problem="TURN_TLS_CERT_FILE $(shown "$TURN_TLS_CERT_FILE"): not a PEM certificate"
  elif ! grep -q -- 'PRIVATE KEY-----' "$TURN_TLS_KEY_FILE"; then
    problem="TURN_TLS_KEY_FILE $(shown "$TURN_TLS_KEY_FILE"): not a PEM private key"
  elif command -v openssl >/dev/null 2>&1; then
    if ! cert_key=$(openssl x509 -noout -pubkey <"$TURN_TLS_CERT_FILE" 2>/dev/null); then
      problem="TURN_TLS_CERT_FILE $(shown "$TURN_TLS_CERT_FILE"): not a PEM certificate"
    elif [ "$(openssl pkey -pubout <"$TURN_TLS_KEY_FILE" 2>/dev/null)" != "$cert_key" ]; then
      problem="TURN_TLS_KEY_FILE $(shown "$TURN_TLS_KEY_FILE"): not the private key of the certificate in TURN_TLS_CERT_FILE"
    fi
  fi
}

# watch PID: until turnserver (PID) exits, applies changed secret files to the database and a
# changed certificate by SIGUSR2. A change is applied once it has held for one interval, so a
# file being rewritten is not read half-way; one that cannot be applied is reported once.
watch() {
  interval=${TURNKEY_WATCH_INTERVAL:-2}
  realm=$TURN_REALM
  db="$TURN_RUNTIME_DIR/turndb"
  secret_files= tls_files=
  [ -z "${TURNKEY_WATCH_SECRETS:-}" ] || secret_files="${TURN_SECRET_FILE:-} ${TURN_SECRET_PREVIOUS_FILE:-}"
  [ -z "${TURN_TLS_CERT_FILE:-}" ] || tls_files="$TURN_TLS_CERT_FILE $TURN_TLS_KEY_FILE"
  handled_secrets=$(fingerprint $secret_files)
  seen_secrets=$handled_secrets
  handled_tls=$(fingerprint $tls_files)
  seen_tls=$handled_tls
  since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  tls_since=$since
  while sleep "$interval" && kill -0 "$1" 2>/dev/null; do
    now=$(fingerprint $secret_files)
    if [ "$now" != "$handled_secrets" ] && [ "$now" = "$seen_secrets" ]; then
      handled_secrets=$now
      read_secret_set
      if [ -n "$problem" ]; then
        say "$problem; keeping the secrets loaded at $since"
      elif store_secrets "$db"; then
        since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
        say "secrets re-read from TURN_SECRET_FILE and TURN_SECRET_PREVIOUS_FILE: $(echo $current $previous | wc -w) accepted"
      else
        say "could not write the secret database $(shown "$db"); keeping the secrets loaded at $since"
      fi
    fi
    seen_secrets=$now
    now=$(fingerprint $tls_files)
    if [ "$now" != "$handled_tls" ] && [ "$now" = "$seen_tls" ]; then
      handled_tls=$now
      tls_problem
      if [ -n "$problem" ]; then
        say "$problem; keeping the certificate loaded at $tls_since"
      elif kill -USR2 "$1"; then
        tls_since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
        say "certificate and key re-read from TURN_TLS_CERT_FILE and TURN_TLS_KEY_FILE (SIGUSR2)"
      fi
    fi
    seen_tls=$now
  done
  exit 0
}

cr=$(printf '\r')
nl='
'
[ -z "${TURNKEY_WATCH_PID:-}" ] || watch "$TURNKEY_WATCH_PID"

# The credential service writes the secret files into RELAY_SECRETS_DIR, the volume both
# mount, and after a reboot either container may start first; a certificate missing when
# turnserver starts would leave TLS off for good. So a file named there is waited for, up to a
# minute.
waited=0
while [ -n "${RELAY_SECRETS_DIR:-}" ]; do
  missing=
  for v in TURN_SECRET_FILE TURN_SECRET_PREVIOUS_FILE TURN_TLS_CERT_FILE TURN_TLS_KEY_FILE TURN_CLI_PASSWORD_FILE; do
    eval "f=\${$v:-}"
    case "$f" in "$RELAY_SECRETS_DIR"/*) [ -e "$f" ] || missing="$missing $v" ;; esac
  done
  [ -n "$missing" ] && [ "$waited" -lt 60 ] || break
  [ "$waited" -gt 0 ] || say "waiting up to 60 s for$missing (the credential service writes them)"
  sleep 1
  waited=$((waited + 1))
done

read_secret_set
[ -z "$problem" ] || die "$problem"
# Secrets from the environment cannot change under a running container; files can.
secrets_from_files=
if [ -n "${TURN_SECRET_FILE:-}" ] && [ -z "${TURN_SECRET_PREVIOUS:-}" ]; then secrets_from_files=1; fi
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
db="$dir/turndb"
command -v sqlite3 >/dev/null 2>&1 || die "sqlite3 is missing from the relay image: the relay keeps its secrets in Coturn's SQLite database so that a rotation reaches it without a restart; build it with coturn/Dockerfile.coturn"
rm -f "$db" "$db-wal" "$db-shm"
store_secrets "$db" || die "could not write the relay's secret database in TURN_RUNTIME_DIR ($(shown "$dir"))"

{
  cat "$base"
  echo
  echo "# --- written by the entrypoint ---"
  line TURN_REALM "realm=$realm"
  echo "listening-port=$listen_port"
  echo "min-port=$min_port"
  echo "max-port=$max_port"
  line TURN_RUNTIME_DIR "pidfile=$dir/turnserver.pid"
  line TURN_RUNTIME_DIR "userdb=$db"
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
    external_ip_problem "$EXTERNAL_IP"
    [ -z "$problem" ] || die "$problem"
    for pair in $(echo "$EXTERNAL_IP" | tr ',' ' '); do line EXTERNAL_IP "external-ip=$pair"; done
  fi
  if [ -n "${TURN_LISTENING_IPS:-}" ]; then
    address_list TURN_LISTENING_IPS "$TURN_LISTENING_IPS"
    for ip in $(echo "$TURN_LISTENING_IPS" | tr ',' ' '); do line TURN_LISTENING_IPS "listening-ip=$ip"; done
  fi
  if [ -n "${TURN_RELAY_IPS:-}" ]; then
    address_list TURN_RELAY_IPS "$TURN_RELAY_IPS"
    for ip in $(echo "$TURN_RELAY_IPS" | tr ',' ' '); do line TURN_RELAY_IPS "relay-ip=$ip"; done
  elif [ -z "${TURN_LISTENING_IPS:-}" ] && [ -z "${TURN_ALLOWED_PEER_IPS:-}" ]; then
    # (Listening addresses are Coturn's relay addresses when set; a private network's clients
    # need relayed addresses on it, the ones they came in on.)
    default_relay_ips
    if [ -n "$relay_ips" ]; then
      for ip in $relay_ips; do line TURN_RELAY_IPS "relay-ip=$ip"; done
      echo "turnkey-coturn: relaying from $relay_ips (EXTERNAL_IP's private halves and this host's public addresses; TURN_RELAY_IPS to choose others)" >&2
    else
      echo "turnkey-coturn: no public address on this host's interfaces and no EXTERNAL_IP: turnserver chooses relay addresses itself (TURN_RELAY_IPS to name them)" >&2
    fi
  fi

  # A relay nobody outside this machine can reach (it listens and relays on loopback alone and
  # announces no external address) may relay to its own loopback addresses: its clients, all on
  # this machine, reach them already. Two browser tabs of a developer then relay to each other.
  # Coturn refuses loopback peers unless allow-loopback-peers, then checks allowed-peer-ip before
  # the deny list (ns_turn_server.c good_peer_addr), so only the relay's own addresses open up:
  # other loopback addresses (127.0.0.2 and the rest of 127/8) stay denied.
  if loopback_only; then
    echo "allow-loopback-peers"
    for ip in $(echo "${TURN_RELAY_IPS:-$TURN_LISTENING_IPS}" | tr ',' ' '); do line TURN_RELAY_IPS "allowed-peer-ip=$ip"; done
    echo "turnkey-coturn: listening and relaying on loopback only: peers at the relay's own loopback addresses are allowed (a relay for this machine alone)" >&2
  fi

  # Private-network deployments (turnkey:allowedPeerIps): peers in these ranges are relayed to
  # although the deny list refuses them.
  if [ -n "${TURN_ALLOWED_PEER_IPS:-}" ]; then
    ranges= lo_only=no
    if loopback_only; then lo_only=yes; fi
    for entry in $(echo "$TURN_ALLOWED_PEER_IPS" | tr ',' ' '); do
      allowed_range_problem "$entry"
      [ -z "$problem" ] || die "TURN_ALLOWED_PEER_IPS: $(shown "$entry") $problem (turnkey:allowedPeerIps)"
    done
    [ -n "$ranges" ] || die "TURN_ALLOWED_PEER_IPS must be CIDR ranges, comma-separated, like 10.20.0.0/16 (turnkey:allowedPeerIps)"
    for range in $ranges; do line TURN_ALLOWED_PEER_IPS "allowed-peer-ip=$range"; done
    echo "turnkey-coturn: peers in $(shown "$TURN_ALLOWED_PEER_IPS") are allowed (TURN_ALLOWED_PEER_IPS): anyone holding a credential can relay to any UDP port there, this host's own addresses in them included" >&2
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

  # Coturn's admin CLI, through which the credential service ends a revoked user's sessions
  # (turn_admin_server.c: `psp`, `cs`): on this host's loopback only, behind a password the
  # service keeps in RELAY_SECRETS_DIR. The password stays in this private config, never on a
  # command line. Without it, no CLI: Coturn 4.18 opens one only when told to (`cli`), and
  # never without a password (mainrelay.c).
  if [ -n "${TURN_CLI_PASSWORD_FILE:-}" ]; then
    cli_password=
    [ -r "$TURN_CLI_PASSWORD_FILE" ] && IFS= read -r cli_password <"$TURN_CLI_PASSWORD_FILE" || true
    case "$cli_password" in
      '' | *[!A-Za-z0-9]*) die "TURN_CLI_PASSWORD_FILE must name a file holding one password of letters and digits, 32 to 128 of them: $(shown "$TURN_CLI_PASSWORD_FILE")" ;;
    esac
    [ "${#cli_password}" -ge 32 ] && [ "${#cli_password}" -le 128 ] || die "TURN_CLI_PASSWORD_FILE must hold a password of 32 to 128 letters and digits: $(shown "$TURN_CLI_PASSWORD_FILE")"
    cli_port=${TURN_CLI_PORT:-5766}
    port TURN_CLI_PORT "$cli_port"
    echo "cli"
    echo "cli-ip=127.0.0.1"
    echo "cli-port=$cli_port"
    echo "cli-password=$cli_password"
  fi

  if [ -n "${TURN_EXTRA_CONFIG_FILE:-}" ]; then
    [ -r "$TURN_EXTRA_CONFIG_FILE" ] || die "TURN_EXTRA_CONFIG_FILE names a file that cannot be read: $(shown "$TURN_EXTRA_CONFIG_FILE")"
    echo "# --- TURN_EXTRA_CONFIG_FILE ---"
    cat "$TURN_EXTRA_CONFIG_FILE"
  fi
} >"$conf"

# The watcher gets this environment, secrets already unset; $$ is the pid turnserver will have.
if [ -n "$secrets_from_files" ] || [ -n "${TURN_TLS_CERT_FILE:-}" ]; then
  TURNKEY_WATCH_PID=$$ TURNKEY_WATCH_SECRETS=$secrets_from_files TURN_RUNTIME_DIR=$dir TURN_REALM=$realm \
    /bin/sh "$0" </dev/null &
fi
exec "$turnserver" -c "$conf" "$@"
