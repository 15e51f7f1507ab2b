// The websocket feed client of the page: subscriptions with reference counts,
// local L2 books verified by sequence and checksum (DESIGN.md "Websocket
// feed"), resubscription on a gap or a checksum mismatch, reconnection with
// exponential backoff and jitter.

import { bookChecksum } from "./checksum.js";

/** One SKU's L2 book as the feed describes it: price -> quantity per side. */
export class LocalBook {
  constructor(sku) {
    this.sku = sku;
    this.bids = new Map();
    this.asks = new Map();
    this.sequence = 0;
  }

  load(snapshot) {
    this.bids = new Map(snapshot.bids.map((lvl) => [lvl[0], lvl[1]]));
    this.asks = new Map(snapshot.asks.map((lvl) => [lvl[0], lvl[1]]));
    this.sequence = snapshot.sequence;
  }

  apply(changes) {
    for (const [side, price, qty] of changes) {
      const levels = side === "bid" ? this.bids : this.asks;
      if (qty === 0) levels.delete(price);
      else levels.set(price, qty);
    }
  }

  /** Bid levels [[price, qty]], highest first. */
  bidLevels(depth = Infinity) {
    return [...this.bids].sort((a, b) => b[0] - a[0]).slice(0, depth);
  }

  /** Ask levels [[price, qty]], lowest first. */
  askLevels(depth = Infinity) {
    return [...this.asks].sort((a, b) => a[0] - b[0]).slice(0, depth);
  }

  bestBid() {
    let best = null;
    for (const p of this.bids.keys()) if (best === null || p > best) best = p;
    return best;
  }

  bestAsk() {
    let best = null;
    for (const p of this.asks.keys()) if (best === null || p < best) best = p;
    return best;
  }

  checksum() {
    return bookChecksum(this.askLevels(10), this.bidLevels(10));
  }
}

const HEARTBEAT_TIMEOUT_MS = 5000;

/**
 * The page's one connection to the feed.
 *
 * Events (`on(type, fn)`): "ticker", "trade", "trade_canceled", "candle" (the
 * server's messages),
 * "book" ({sku, book} after a verified change or snapshot), "tradegap" ({sku}:
 * a trade was missed, refetch), "resync" ({sku, reason}), "status" ({state}),
 * "open" (connected and subscriptions sent).
 */
export class Feed {
  constructor(url) {
    this.url = url;
    this.ws = null;
    this.state = "connecting";
    this.resyncs = 0;
    this.counts = new Map(); // "channel|sku|interval" -> reference count
    this.books = new Map(); // sku -> {book, synced, fresh}
    this.tradeSeq = new Map(); // sku -> last trade sequence seen
    this.handlers = new Map();
    this.backoff = 500;
    this.lastMessage = 0;
    this.nextReqId = 1;
    this.closed = false;
    this.watchdog = setInterval(() => this.checkAlive(), 1000);
  }

  on(type, fn) {
    if (!this.handlers.has(type)) this.handlers.set(type, new Set());
    this.handlers.get(type).add(fn);
    return () => this.handlers.get(type)?.delete(fn);
  }

  emit(type, detail) {
    for (const fn of this.handlers.get(type) ?? []) {
      try {
        fn(detail);
      } catch (err) {
        // One broken view must not stop the others from updating.
        console.warn("feed handler failed", err);
      }
    }
  }

  setState(state) {
    this.state = state;
    this.emit("status", { state, resyncs: this.resyncs });
  }

  connect() {
    if (this.closed) return;
    this.setState(this.ws ? "reconnecting" : "connecting");
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => {
      if (ws !== this.ws) return;
      this.backoff = 500;
      this.lastMessage = Date.now();
      // A new connection starts without state: every book needs a snapshot.
      for (const st of this.books.values()) st.synced = false;
      this.tradeSeq.clear();
      this.sendAll();
      this.setState("live");
      this.emit("open", {});
    };
    ws.onmessage = (event) => {
      if (ws !== this.ws) return;
      this.lastMessage = Date.now();
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch {
        console.warn("feed: a message that is not JSON was ignored");
        return;
      }
      this.handle(msg);
    };
    ws.onclose = () => {
      if (ws !== this.ws || this.closed) return;
      this.scheduleReconnect();
    };
    // onerror is always followed by onclose, which reconnects.
    ws.onerror = () => {};
  }

  scheduleReconnect() {
    this.setState("reconnecting");
    const delay = this.backoff * (0.5 + Math.random());
    this.backoff = Math.min(this.backoff * 2, 10000);
    setTimeout(() => this.connect(), delay);
  }

  checkAlive() {
    // The server sends a heartbeat every second on a quiet connection; silence
    // means the connection is dead even if the socket has not noticed.
    if (this.ws && this.ws.readyState === WebSocket.OPEN &&
        Date.now() - this.lastMessage > HEARTBEAT_TIMEOUT_MS) {
      const ws = this.ws;
      this.ws = null;
      ws.close();
      this.scheduleReconnect();
    }
  }

  close() {
    this.closed = true;
    clearInterval(this.watchdog);
    this.ws?.close(1000, "page closed");
  }

  send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify({ ...msg, req_id: this.nextReqId++ }));
    }
  }

  /** (Re)send every live subscription, grouped by channel and interval. */
  sendAll() {
    const groups = new Map();
    for (const [key, n] of this.counts) {
      if (n <= 0) continue;
      const [channel, sku, interval] = key.split("|");
      const g = `${channel}|${interval}`;
      if (!groups.has(g)) groups.set(g, []);
      groups.get(g).push(sku);
    }
    for (const [g, skus] of groups) {
      const [channel, interval] = g.split("|");
      this.send(subscription("subscribe", [channel], skus, interval));
    }
  }

  /**
   * Subscribe (reference counted) to channels for SKUs.
   * @returns {() => void} undo
   */
  subscribe({ channels, skus, interval }) {
    const added = new Map();
    for (const channel of channels) {
      for (const sku of skus) {
        const key = `${channel}|${sku}|${channel === "candles" ? interval ?? "1m" : ""}`;
        const n = this.counts.get(key) ?? 0;
        this.counts.set(key, n + 1);
        if (n === 0) {
          if (!added.has(channel)) added.set(channel, []);
          added.get(channel).push(sku);
          if (channel === "book" && !this.books.has(sku)) {
            this.books.set(sku, { book: new LocalBook(sku), synced: false, fresh: true });
          }
        }
      }
    }
    for (const [channel, list] of added) {
      this.send(subscription("subscribe", [channel], list, interval));
    }
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.release({ channels, skus, interval });
    };
  }

  release({ channels, skus, interval }) {
    for (const channel of channels) {
      const removed = [];
      for (const sku of skus) {
        const key = `${channel}|${sku}|${channel === "candles" ? interval ?? "1m" : ""}`;
        const n = (this.counts.get(key) ?? 0) - 1;
        if (n > 0) {
          this.counts.set(key, n);
          continue;
        }
        this.counts.delete(key);
        removed.push(sku);
        if (channel === "book") this.books.delete(sku);
        if (channel === "trades") this.tradeSeq.delete(sku);
      }
      if (removed.length) this.send(subscription("unsubscribe", [channel], removed, interval));
    }
  }

  /** The verified local book of a SKU (null until its first snapshot). */
  book(sku) {
    const st = this.books.get(sku);
    return st && st.synced ? st.book : null;
  }

  /** Drop a SKU's book and ask for a fresh snapshot. */
  resync(sku, reason) {
    const st = this.books.get(sku);
    if (!st) return;
    st.synced = false;
    this.resyncs += 1;
    console.info(`feed: resync ${sku} (${reason})`);
    this.send(subscription("unsubscribe", ["book"], [sku]));
    this.send(subscription("subscribe", ["book"], [sku]));
    this.emit("resync", { sku, reason, resyncs: this.resyncs });
    this.emit("status", { state: this.state, resyncs: this.resyncs });
  }

  handle(msg) {
    switch (msg.type) {
      case "snapshot": {
        const st = this.books.get(msg.sku);
        if (!st) return;
        st.book.load(msg);
        if (typeof msg.checksum === "number" && st.book.checksum() !== msg.checksum) {
          this.resync(msg.sku, "snapshot checksum mismatch");
          return;
        }
        st.synced = true;
        st.fresh = true;
        this.emit("book", { sku: msg.sku, book: st.book });
        return;
      }
      case "book": {
        const st = this.books.get(msg.sku);
        if (!st || !st.synced) return; // waiting for a snapshot
        if (msg.sequence <= st.book.sequence) return; // already in the snapshot
        // The first message after a snapshot may follow any earlier sequence;
        // after that each must follow the previous one exactly.
        const ok = st.fresh
          ? msg.prev_sequence <= st.book.sequence
          : msg.prev_sequence === st.book.sequence;
        if (!ok) {
          this.resync(msg.sku, `gap: expected ${st.book.sequence}, got prev ${msg.prev_sequence}`);
          return;
        }
        st.book.apply(msg.changes);
        st.book.sequence = msg.sequence;
        st.fresh = false;
        if (st.book.checksum() !== msg.checksum) {
          this.resync(msg.sku, "checksum mismatch");
          return;
        }
        this.emit("book", { sku: msg.sku, book: st.book });
        return;
      }
      case "trade":
      case "trade_canceled": {
        // Both continue the trades channel's sequence chain.
        const last = this.tradeSeq.get(msg.sku);
        if (last !== undefined) {
          if (msg.sequence <= last) return; // duplicate
          if (msg.prev_sequence !== last) this.emit("tradegap", { sku: msg.sku });
        }
        this.tradeSeq.set(msg.sku, msg.sequence);
        this.emit(msg.type, msg);
        return;
      }
      case "ticker":
      case "candle":
        this.emit(msg.type, msg);
        return;
      case "error":
        console.warn(`feed error ${msg.code}: ${msg.message}`);
        this.emit("feederror", msg);
        return;
      default:
        // subscriptions, heartbeat and types this page does not know: ignored.
        return;
    }
  }
}

function subscription(type, channels, skus, interval) {
  const msg = { type, channels, skus };
  if (channels.includes("candles")) msg.interval = interval ?? "1m";
  return msg;
}
