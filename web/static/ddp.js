// A small DDP client (Meteor's protocol, as rocketlite's /websocket serves it): connect, ping,
// methods, subscriptions, and reconnection with backoff. Events of the streams go to onEvent.

export class DDP {
  constructor(url, { onEvent, onState, resume }) {
    this.url = url;
    this.onEvent = onEvent;
    this.onState = onState;
    this.resume = resume; // () => token, or null when logged out
    this.nextId = 1;
    this.calls = new Map();
    this.subs = []; // [name, params] kept to resubscribe after a reconnect
    this.delay = 500;
    this.closed = false;
    this.open();
  }

  open() {
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.addEventListener("open", () => ws.send(JSON.stringify({ msg: "connect", version: "1", support: ["1"] })));
    ws.addEventListener("message", (e) => this.receive(JSON.parse(e.data)));
    ws.addEventListener("close", () => {
      for (const [, c] of this.calls) c.reject(new Error("disconnected"));
      this.calls.clear();
      this.ready = false;
      this.onState(false);
      if (this.closed) return;
      setTimeout(() => this.open(), this.delay);
      this.delay = Math.min(this.delay * 2, 10000);
    });
  }

  async receive(m) {
    switch (m.msg) {
      case "connected": {
        this.delay = 500;
        const token = this.resume();
        if (token) {
          try {
            await this.call("login", { resume: token });
          } catch (err) {
            this.onState(false, err);
            return;
          }
        }
        for (const [name, params] of this.subs) this.send({ msg: "sub", id: String(this.nextId++), name, params });
        this.ready = true;
        this.onState(true);
        break;
      }
      case "ping":
        this.send(m.id ? { msg: "pong", id: m.id } : { msg: "pong" });
        break;
      case "result": {
        const c = this.calls.get(m.id);
        if (!c) return;
        this.calls.delete(m.id);
        if (m.error) c.reject(Object.assign(new Error(m.error.reason || m.error.message || "error"), { error: m.error.error }));
        else c.resolve(m.result);
        break;
      }
      case "changed":
        if (m.fields && m.fields.eventName !== undefined) this.onEvent(m.collection, m.fields.eventName, m.fields.args || []);
        break;
    }
  }

  send(m) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(m));
  }

  call(method, ...params) {
    const id = String(this.nextId++);
    return new Promise((resolve, reject) => {
      this.calls.set(id, { resolve, reject });
      this.send({ msg: "method", id, method, params });
    });
  }

  subscribe(name, ...params) {
    this.subs.push([name, params]);
    if (this.ready) this.send({ msg: "sub", id: String(this.nextId++), name, params });
  }

  close() {
    this.closed = true;
    if (this.ws) this.ws.close();
  }
}
