// (d) For the record: the same endpoint written the way most Node services are.
const express = require('express');
const { authorized, iceServers } = require('./common');

const app = express();
app.get('/v1/ice-servers', (req, res) => {
  if (!authorized(req.headers.authorization))
    return res.status(401).json({ error: 'unauthorized' });
  const body = iceServers(req.query.user);
  if (!body) return res.status(400).json({ error: 'invalid_request' });
  res.type('application/json').send(body);
});
app.listen(Number(process.env.PORT), '127.0.0.1');
