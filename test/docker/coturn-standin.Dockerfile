# Stand-in for the official coturn/coturn:4.18.0 (see base-images.sh): same binary path,
# user and capability, so Dockerfile.coturn builds on it unchanged. Tagged
# turnkey-test/coturn:4.18.0 (stand-ins.json), never as the image it stands in for.
FROM turnkey-base/debian:forky
LABEL org.turnkey.test-stand-in=true
# openssl: the official image has it (ca-certificates needs it). sqlite3 comes with Debian's
# coturn package; the official image lacks it, and Dockerfile.coturn adds it there.
# The mirror is a snapshot whose Release file has passed its Valid-Until date.
RUN apt-get -o Acquire::Check-Valid-Until=false update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends coturn openssl libcap2-bin \
 && setcap CAP_NET_BIND_SERVICE=+ep /usr/bin/turnserver \
 && apt-get purge -y -qq libcap2-bin \
 && rm -rf /var/lib/apt/lists/* /etc/coturn/turnserver.conf /etc/turnserver.conf \
 && turnserver --version
USER nobody:nogroup
EXPOSE 3478 3478/udp 5349 5349/udp
ENTRYPOINT ["turnserver"]
CMD ["--log-file=stdout"]
