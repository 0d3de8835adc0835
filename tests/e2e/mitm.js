// A hostile signaling server for the tests: it serves the real server's page and relays its
// WebSocket, passing every JSON message through `rewrite(direction, message)` on the way
// ('up': browser to server, 'down': server to browser). Listens on 127.0.0.1 only.

import http from 'node:http';
import { WebSocketServer, WebSocket } from 'ws';

/** Starts the relay in front of `upstream` (http://127.0.0.1:PORT); resolves with {url, close, seen}. */
export function startMitm(upstream, rewrite = (_dir, m) => m) {
  const seen = [];
  const sockets = new Set();
  const server = http.createServer((req, res) => {
    const up = http.request(`${upstream}${req.url}`, { method: req.method, headers: { ...req.headers, host: new URL(upstream).host } }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      r.pipe(res);
    });
    up.on('error', () => { res.writeHead(502); res.end(); });
    req.pipe(up);
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1 << 20 });
  const pass = (dir, data) => {
    const text = data.toString();
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      return text;
    }
    seen.push({ dir, type: msg.type });
    return JSON.stringify(rewrite(dir, msg));
  };
  server.on('upgrade', (req, socket, head) => {
    if (!req.url.startsWith('/ws')) {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (client) => {
      const up = new WebSocket(`${upstream.replace(/^http/, 'ws')}/ws`);
      sockets.add(client);
      sockets.add(up);
      const queued = [];
      up.on('open', () => { for (const m of queued.splice(0)) up.send(m); });
      client.on('message', (data) => {
        const m = pass('up', data);
        if (up.readyState === WebSocket.OPEN) up.send(m);
        else queued.push(m);
      });
      up.on('message', (data) => { if (client.readyState === WebSocket.OPEN) client.send(pass('down', data)); });
      const end = () => { client.close(); up.close(); };
      client.on('close', end);
      up.on('close', end);
      client.on('error', end);
      up.on('error', end);
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        url: `http://127.0.0.1:${server.address().port}`,
        seen,
        close: () => new Promise((r) => {
          for (const s of sockets) s.terminate();
          server.close(() => r());
          server.closeAllConnections?.();
        }),
      });
    });
  });
}

/** `sdp` with its DTLS fingerprints replaced by another certificate's (the first byte flipped). */
export function swapFingerprint(sdp) {
  return sdp.replace(/^(a=fingerprint:\S+ )([0-9A-Fa-f]{2})/gm, (_, head, byte) => {
    const flipped = (parseInt(byte, 16) ^ 0xff).toString(16).padStart(2, '0').toUpperCase();
    return head + flipped;
  });
}
