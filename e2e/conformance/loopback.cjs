// Preloaded with `node --require` into the conformance suite (conformance_test.go): it
// loads testdata/loopback.cjs, which makes every wildcard TCP listen bind 127.0.0.1 (tests
// never expose a port beyond loopback), and makes such a listen bind at once, as a listen
// without a host does. With a host, Node resolves it first (dns.lookup answers even an IP
// literal on a later tick), so server.address() is still null right after listen()
// returns, and the suite's scenarios that read it there (app.listen(0) then
// httpServer.address().port) would fail. While a listen call runs, a lookup of 127.0.0.1
// is answered synchronously; every other lookup is untouched.
'use strict';
require('../testdata/loopback.cjs');
const net = require('net');
const dns = require('dns');

let inListen = 0;
const lookup = dns.lookup;
dns.lookup = function (hostname, options, callback) {
  if (inListen > 0 && hostname === '127.0.0.1') {
    const cb = typeof options === 'function' ? options : callback;
    const all = options !== null && typeof options === 'object' && options.all;
    if (all) cb(null, [{ address: '127.0.0.1', family: 4 }]);
    else cb(null, '127.0.0.1', 4);
    return {};
  }
  return lookup.apply(this, arguments);
};

const listen = net.Server.prototype.listen; // loopback.cjs's
net.Server.prototype.listen = function (...args) {
  inListen++;
  try {
    return listen.apply(this, args);
  } finally {
    inListen--;
  }
};
