// A small UDP tool the lab runs inside its namespaces (plain Node, no dependencies).
//   node udp-tool.js listen IP PORT[,PORT...]   prints "ready", then one JSON line per datagram
//                                               ({to, from, bytes}) and answers each with the
//                                               sender's address as the listener saw it
//   node udp-tool.js send DEST:PORT[,DEST:PORT...]  sends one datagram to each destination from
//                                               ONE socket, prints {local, replies:[{from, saw}]}
// Addresses print as IP:PORT, IPv6 ones as [IP]:PORT; destinations are written the same way,
// all of one family (the socket is udp6 for IPv6 ones).

const dgram = require('node:dgram');

const [mode, ...args] = process.argv.slice(2);
const hostPort = (host, port) => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

if (mode === 'listen') {
  const [host, ports] = args;
  let pending = ports.split(',').length;
  for (const port of ports.split(',')) {
    const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    sock.on('message', (msg, rinfo) => {
      const from = hostPort(rinfo.address, rinfo.port);
      process.stdout.write(
        `${JSON.stringify({ to: hostPort(host, port), from, bytes: msg.length })}\n`,
      );
      sock.send(from, rinfo.port, rinfo.address);
    });
    sock.bind(Number(port), host, () => {
      if (--pending === 0) process.stdout.write('ready\n');
    });
  }
} else if (mode === 'send') {
  const dests = args[0].split(',').map((d) => {
    const i = d.lastIndexOf(':');
    return { host: d.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(d.slice(i + 1)) };
  });
  const sock = dgram.createSocket(dests.every((d) => d.host.includes(':')) ? 'udp6' : 'udp4');
  const replies = [];
  sock.on('message', (msg, rinfo) => {
    replies.push({ from: hostPort(rinfo.address, rinfo.port), saw: msg.toString() });
    if (replies.length === dests.length) done();
  });
  const done = () => {
    process.stdout.write(`${JSON.stringify({ local: sock.address().port, replies })}\n`);
    process.exit(0);
  };
  sock.bind(0, () => {
    for (const d of dests) sock.send('probe', d.port, d.host);
    setTimeout(done, Number(process.env.UDP_TOOL_WAIT_MS ?? 2000));
  });
} else {
  process.stderr.write('usage: udp-tool.js listen IP PORTS | send DEST:PORT[,...]\n');
  process.exit(2);
}
