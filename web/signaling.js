// The signaling connection: joins a room over /ws, reconnects with backoff, and hands the
// server's messages to `onMessage`. Speaks protocol version 1 (docs/protocol.md).

export const PROTOCOL_VERSION = 1;

export class Signaling {
  /**
   * @param {string} url  ws:// or wss:// URL of the server's /ws
   * @param {string} room room name
   * @param {{onMessage: (m: object) => void, onState: (state: string, detail?: string) => void}} handlers
   */
  constructor(url, room, handlers) {
    this.url = url;
    this.room = room;
    this.handlers = handlers;
    this.ws = null;
    this.attempt = 0;
    this.stopped = false;
    this.retryTimer = null;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    if (this.ws) this.ws.close();
  }

  /** Drops this connection and joins again after the backoff (the server was not ready). */
  retry() {
    if (this.ws) this.ws.close();
  }

  send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(msg));
      return true;
    }
    return false;
  }

  connect() {
    this.handlers.onState('connecting');
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => {
      ws.send(JSON.stringify({ type: 'join', v: PROTOCOL_VERSION, room: this.room, role: 'viewer' }));
    };
    ws.onmessage = (e) => {
      let msg;
      try {
        msg = JSON.parse(e.data);
      } catch {
        console.warn('peerdesk: server sent something that is not JSON');
        return;
      }
      // Backoff starts over once a join succeeds (not merely a connection: a server that
      // accepts and then refuses should not be hammered).
      if (msg?.type === 'joined') this.attempt = 0;
      this.handlers.onMessage(msg);
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      const delay = Math.min(5000, 500 * 2 ** this.attempt);
      this.attempt += 1;
      const why = e.reason ? `: ${e.reason}` : '';
      this.handlers.onState('down', `Cannot reach the server${why}. Retrying in ${Math.ceil(delay / 1000)} s…`);
      this.retryTimer = setTimeout(() => this.connect(), delay);
    };
  }
}
