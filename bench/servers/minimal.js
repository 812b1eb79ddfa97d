// (b) The work ceiling: node:http doing only the essential work of the endpoint.
const http = require('node:http');
const { authorized, iceServers } = require('./common');

http
  .createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname !== '/v1/ice-servers') return res.writeHead(404).end();
    if (!authorized(req.headers.authorization)) return res.writeHead(401).end();
    const body = iceServers(url.searchParams.get('user'));
    if (!body) return res.writeHead(400).end();
    res.writeHead(200, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  })
  .listen(Number(process.env.PORT), '127.0.0.1');
