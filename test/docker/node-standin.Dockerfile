# Stand-in for the official node:20-bookworm-slim (see base-images.sh). Tagged
# turnkey-test/node:20-bookworm-slim (stand-ins.json), never as the image it stands in for.
FROM turnkey-base/debian:bookworm
LABEL org.turnkey.test-stand-in=true
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
# Only for this workplace's intercepting proxy (see base-images.sh).
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && mkdir -p /usr/local/etc \
 && echo 'cafile=/etc/ssl/certs/ca-certificates.crt' > /usr/local/etc/npmrc \
 && node --version && npm --version
CMD ["node"]
