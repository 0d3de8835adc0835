// The classic signaling relay peerdesk's server replaces, for comparison in bench/load.js: a
// minimal Node.js `ws` server with rooms (one host, many viewers) relaying offer, answer and
// candidate exactly as peerdesk's protocol does (docs/protocol.md), and nothing else: no limits,
// no validation beyond JSON, no TLS. Prints `listening ws://127.0.0.1:PORT/ws`.
//
//   node bench/ws-relay.js [--port 0]

import { WebSocketServer } from 'ws';
import { arg } from './lib.js';

const wss = new WebSocketServer({ host: '127.0.0.1', port: Number(arg('--port', '0')), path: '/ws', maxPayload: 1 << 20 });
const rooms = new Map(); // name -> { host: ws | null, viewers: Map<peer, ws> }
let nextPeer = 0;

const send = (ws, m) => { if (ws && ws.readyState === 1) ws.send(JSON.stringify(m)); };

wss.on('connection', (ws) => {
  ws.peer = ++nextPeer;
  ws.on('message', (data) => {
    let m;
    try { m = JSON.parse(data); } catch { return send(ws, { type: 'error', code: 'bad_message', message: 'not JSON' }); }
    if (m.type === 'join') {
      let r = rooms.get(m.room);
      if (!r) rooms.set(m.room, r = { host: null, viewers: new Map() });
      ws.room = m.room;
      ws.role = m.role;
      if (m.role === 'host') {
        if (r.host) return send(ws, { type: 'error', code: 'host_exists', message: 'room has a host' });
        r.host = ws;
        for (const v of r.viewers.values()) send(v, { type: 'host_online', peer: ws.peer });
      } else {
        r.viewers.set(ws.peer, ws);
        send(r.host, { type: 'viewer_joined', peer: ws.peer });
      }
      return send(ws, { type: 'joined', v: 1, room: m.room, peer: ws.peer, role: m.role, host_present: !!r.host });
    }
    const r = rooms.get(ws.room);
    if (!r) return send(ws, { type: 'error', code: 'not_joined', message: 'join first' });
    const to = ws.role === 'host' ? r.viewers.get(m.peer) : r.host;
    if (!to) return send(ws, { type: 'error', code: 'unknown_peer', message: 'no such peer' });
    send(to, { ...m, peer: ws.peer });
  });
  ws.on('close', () => {
    const r = rooms.get(ws.room);
    if (!r) return;
    if (ws.role === 'host' && r.host === ws) {
      r.host = null;
      for (const v of r.viewers.values()) send(v, { type: 'host_offline' });
    } else if (r.viewers.delete(ws.peer)) {
      send(r.host, { type: 'viewer_left', peer: ws.peer });
    }
    if (!r.host && r.viewers.size === 0) rooms.delete(ws.room);
  });
});

wss.on('listening', () => console.log(`listening ws://127.0.0.1:${wss.address().port}/ws`));
