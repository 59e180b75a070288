// Preloaded with `node --require` into third-party MCP servers that listen on every
// interface and have no host setting (server-everything's `app.listen(PORT)`): every TCP
// listen without a host, or with a wildcard host, binds 127.0.0.1 instead. Tests must
// never expose a port beyond loopback. Unix-socket and handle listens are left alone. Each
// TCP listen prints `loopback.cjs: listening ADDRESS:PORT` on stderr (PORT=0 picks a free port).
'use strict';
const net = require('net');

const listen = net.Server.prototype.listen;
const wildcard = (h) => h === undefined || h === null || h === '' || h === '0.0.0.0' || h === '::';

net.Server.prototype.listen = function (...args) {
  const first = args[0];
  if (first !== null && typeof first === 'object' && !Array.isArray(first)) {
    if (first.path === undefined && first.handle === undefined && first.fd === undefined && !(first instanceof net.Server) && wildcard(first.host)) {
      args[0] = { ...first, host: '127.0.0.1' };
    }
  } else if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    // listen(port[, host][, backlog][, cb])
    if (typeof args[1] === 'function' || args.length === 1 || typeof args[1] === 'number') {
      args.splice(1, 0, '127.0.0.1');
    } else if (typeof args[1] === 'string' && wildcard(args[1])) {
      args[1] = '127.0.0.1';
    } else if (wildcard(args[1])) {
      args[1] = '127.0.0.1';
    }
  } else if (first === undefined || typeof first === 'function') {
    // listen() or listen(cb): a random port on every interface
    args.unshift(0, '127.0.0.1');
    if (first === undefined) args.splice(2, 1);
  }
  this.once('listening', () => {
    const a = this.address();
    if (a && typeof a === 'object') process.stderr.write(`loopback.cjs: listening ${a.address}:${a.port}\n`);
  });
  return listen.apply(this, args);
};
