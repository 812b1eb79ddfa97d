// (a) The transport ceiling: node:http answering a precomputed body of the same size.
const http = require('node:http');
const { iceServers } = require('./common');

const body = iceServers('alice');
http
  .createServer((_req, res) => {
    res.writeHead(200, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  })
  .listen(Number(process.env.PORT), '127.0.0.1');
