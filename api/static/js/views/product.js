// Product / SKU page: size selector, market summary, live candles, live depth
// chart and ladder (verified book from the feed), recent trades, trading panel.

import { get, rfc3339 } from "../api.js";
import { candleChart, depthChart } from "../charts.js";
import { h, perFrame, setText, throttle } from "../dom.js";
import { formatCents, formatClock, formatFraction, formatPct, formatTime } from "../money.js";
import { renderTradePanel } from "./trade.js";

const INTERVALS = [
  ["1m", "1 minute", 60],
  ["1h", "1 hour", 3600],
  ["1d", "1 day", 86400],
  ["1w", "1 week", 7 * 86400],
];
const BARS = 300; // how much history a chart opens with
const LADDER_DEPTH = 10;
const TRADES_SHOWN = 20;

export async function renderProduct(ctx, style, size) {
  const product = await get(`/v1/products/${encodeURIComponent(style)}`);
  if (ctx.aborted) return;
  const entry = product.skus.find((s) => String(s.size) === String(size)) ?? product.skus[0];
  const sku = entry.sku;
  document.title = `${product.name} size ${entry.size} · Resale Exchange`;

  // ---- market summary ------------------------------------------------------
  const stat = (field, label) => {
    const dd = h("dd", { dataset: { field } }, "…");
    return [h("div", null, h("dt", null, label), dd), dd];
  };
  const fields = {};
  const statList = [
    ["last_sale", "Last sale"],
    ["lowest_ask", "Lowest ask"],
    ["highest_bid", "Highest bid"],
    ["change_24h", "24h change"],
    ["premium", "Price premium"],
    ["volatility", "Volatility"],
    ["sales_count", "Number of sales"],
    ["volume_24h", "Sold in 24h"],
    ["range_12m", "12-month range"],
  ].map(([f, label]) => {
    const [div, dd] = stat(f, label);
    fields[f] = dd;
    return div;
  });
  const announce = h("p", { id: "price-announce", class: "visually-hidden", "aria-live": "polite" });

  let summary = null;
  let lastTrade = null; // newest trade seen: {id, price_cents}
  const bestFromBook = () => {
    const book = ctx.feed.book(sku);
    return book ? { bid: book.bestBid(), ask: book.bestAsk() } : null;
  };
  const showSummary = () => {
    if (!summary) return;
    const best = bestFromBook();
    setText(fields.lowest_ask, formatCents(best ? best.ask : summary.lowest_ask_cents), true);
    setText(fields.highest_bid, formatCents(best ? best.bid : summary.highest_bid_cents), true);
    setText(fields.last_sale, formatCents(lastTrade ? lastTrade.price_cents : summary.last_sale_cents), true);
    setText(fields.change_24h, formatPct(summary.change_24h_pct));
    setText(fields.premium, formatPct(summary.price_premium_pct));
    setText(fields.volatility, formatFraction(summary.volatility));
    setText(fields.sales_count, String(summary.sales_count ?? 0));
    setText(fields.volume_24h, String(summary.volume_24h ?? 0));
    const r = summary.range_12m;
    setText(fields.range_12m, r && r.low_cents !== null && r.low_cents !== undefined
      ? `${formatCents(r.low_cents)} – ${formatCents(r.high_cents)}` : "—");
  };
  const loadSummary = async () => {
    const s = await get(`/v1/skus/${encodeURIComponent(sku)}`);
    if (ctx.aborted) return;
    summary = s;
    showSummary();
  };
  // At most two summary reads a second however fast trades come, the last one
  // after the last trade.
  const refreshSummary = throttle(() => loadSummary().catch((e) => console.warn(e)), 500);
  ctx.onCleanup(() => refreshSummary.cancel());
  const announcePrices = throttle(() => {
    const best = bestFromBook();
    announce.textContent = `Last sale ${fields.last_sale.textContent}, lowest ask ${formatCents(best?.ask ?? null)}, highest bid ${formatCents(best?.bid ?? null)}`;
  }, 10000);
  ctx.onCleanup(() => announcePrices.cancel());

  // ---- size selector -------------------------------------------------------
  const sizeSelect = h(
    "select",
    { id: "size-select" },
    product.skus.map((s) => h("option", { value: s.size, selected: s.sku === sku }, `${s.size} (${s.sku})`)),
  );
  sizeSelect.addEventListener("change", () => {
    location.hash = `#/product/${encodeURIComponent(style)}?size=${encodeURIComponent(sizeSelect.value)}`;
  });

  // ---- candles -------------------------------------------------------------
  let interval = "1m";
  const chartBox = h("div", { class: "chart", id: "candle-chart" });
  const candleText = h("figcaption", { id: "current-candle", class: "hint" }, "No trades in this interval yet.");
  const intervalButtons = INTERVALS.map(([code, label]) =>
    h("button", { type: "button", "aria-pressed": code === interval ? "true" : "false", "aria-label": `${label} candles`, dataset: { interval: code } }, code),
  );
  const showCandle = (c) => {
    candleText.dataset.start = c.start;
    candleText.dataset.close = String(c.close_cents);
    candleText.dataset.volume = String(c.volume);
    candleText.textContent = `Current ${c.interval ?? interval} candle from ${formatTime(c.start)}: open ${formatCents(c.open_cents)}, high ${formatCents(c.high_cents)}, low ${formatCents(c.low_cents)}, close ${formatCents(c.close_cents)}, volume ${c.volume}.`;
  };

  // ---- depth and ladder ----------------------------------------------------
  const depthBox = h("div", { class: "chart small", id: "depth-chart" });
  const ladderBody = h("tbody", { id: "ladder-body" });
  const ladder = h(
    "table",
    { id: "ladder", dataset: { sequence: "" } },
    h("caption", null, `Order book, top ${LADDER_DEPTH} levels each side`),
    h("thead", null, h("tr", null, h("th", { scope: "col" }, "Side"), h("th", { scope: "col", class: "num" }, "Price"), h("th", { scope: "col", class: "num" }, "Quantity"))),
    ladderBody,
  );

  // ---- trades --------------------------------------------------------------
  const trades = new Map(); // id -> trade
  const tradesBody = h("tbody", { id: "trades-body" });
  const tradesTable = h(
    "table",
    { id: "trades" },
    h("caption", { class: "visually-hidden" }, "Recent trades, newest first"),
    h("thead", null, h("tr", null, h("th", { scope: "col" }, "Time (UTC)"), h("th", { scope: "col", class: "num" }, "Price"), h("th", { scope: "col", class: "num" }, "Quantity"), h("th", { scope: "col" }, "Taker"))),
    tradesBody,
  );

  const trade = await renderTradePanel(ctx, { sku, bestPrices: () => bestFromBook() ?? { bid: summary?.highest_bid_cents ?? null, ask: summary?.lowest_ask_cents ?? null }, rules: () => summary });
  if (ctx.aborted) return;

  ctx.main.replaceChildren(
    h("h1", null, product.name),
    h("p", { class: "subtitle" }, `${product.brand} · style ${product.style} · retail ${formatCents(product.retail_price_cents)}`),
    h("p", { class: "toolbar" }, h("label", { for: "size-select" }, "Size"), sizeSelect, h("a", { href: "#/" }, "All products")),
    h(
      "div",
      { class: "grid" },
      h("section", { class: "panel wide", "aria-labelledby": "summary-h" }, h("h2", { id: "summary-h" }, `Market summary · ${sku}`), h("dl", { class: "stats", id: "stats" }, statList), announce),
      h(
        "section",
        { class: "panel wide", "aria-labelledby": "chart-h" },
        h("h2", { id: "chart-h" }, "Price"),
        h("div", { class: "toolbar", role: "group", "aria-label": "Candle interval" }, intervalButtons),
        h("figure", null, chartBox, candleText),
      ),
      h("section", { class: "panel", "aria-labelledby": "depth-h" }, h("h2", { id: "depth-h" }, "Depth"), h("figure", null, depthBox, h("figcaption", { class: "hint" }, "Cumulative quantity wanted (bids, green) and offered (asks, red) by price; the table lists the levels.")), ladder),
      h("section", { class: "panel", "aria-labelledby": "trades-h" }, h("h2", { id: "trades-h" }, "Recent trades"), tradesTable),
      trade.element,
    ),
  );

  const candles = await candleChart(chartBox);
  const depth = await depthChart(depthBox);
  ctx.onCleanup(() => {
    candles.destroy();
    depth.destroy();
  });
  if (ctx.aborted) return;

  const renderBook = perFrame(() => {
    const book = ctx.feed.book(sku);
    if (!book || ctx.aborted) return;
    const asks = book.askLevels(LADDER_DEPTH);
    const bids = book.bidLevels(LADDER_DEPTH);
    const row = (side, [p, q]) =>
      h("tr", { class: `${side}-row`, dataset: { side, price: String(p), quantity: String(q) } }, h("td", null, side === "ask" ? "Ask" : "Bid"), h("td", { class: "num" }, formatCents(p)), h("td", { class: "num" }, String(q)));
    const spread = asks.length && bids.length ? `Spread ${formatCents(asks[0][0] - bids[0][0])}` : "No spread: one side is empty";
    ladderBody.replaceChildren(
      ...asks.slice().reverse().map((l) => row("ask", l)),
      h("tr", { class: "spread-row" }, h("td", { colspan: "3" }, spread)),
      ...bids.map((l) => row("bid", l)),
    );
    ladder.dataset.sequence = String(book.sequence);
    depth.update(book);
    showSummary();
    announcePrices();
  });

  const renderTrades = perFrame(() => {
    const list = [...trades.values()].sort((a, b) => b.id - a.id).slice(0, TRADES_SHOWN);
    for (const t of trades.keys()) if (trades.size > TRADES_SHOWN * 2 && !list.some((x) => x.id === t)) trades.delete(t);
    tradesBody.replaceChildren(
      ...list.map((t) =>
        h("tr", { dataset: { tradeId: String(t.id) } }, h("td", null, formatClock(t.time)), h("td", { class: "num" }, formatCents(t.price_cents)), h("td", { class: "num" }, String(t.quantity)), h("td", null, t.taker_side === "bid" ? "Buyer" : "Seller")),
      ),
    );
    if (!list.length) tradesBody.append(h("tr", null, h("td", { colspan: "4" }, "No trades yet.")));
  });

  const addTrade = (t) => {
    const id = t.id ?? t.trade_id;
    if (id === undefined || trades.has(id)) return;
    trades.set(id, { ...t, id });
    if (!lastTrade || id > lastTrade.id) lastTrade = { id, price_cents: t.price_cents };
    renderTrades();
  };
  const loadTrades = async () => {
    const { trades: list } = await get(`/v1/skus/${encodeURIComponent(sku)}/trades?limit=${TRADES_SHOWN}`);
    if (ctx.aborted) return;
    list.forEach(addTrade);
    renderTrades();
    showSummary();
  };

  // Candles: subscribe first and buffer, then load history, then replay.
  let candleBuffer = [];
  let unsubCandles = () => {};
  const loadCandles = async (code) => {
    unsubCandles();
    candleBuffer = [];
    interval = code;
    for (const b of intervalButtons) b.setAttribute("aria-pressed", b.dataset.interval === code ? "true" : "false");
    unsubCandles = ctx.feed.subscribe({ channels: ["candles"], skus: [sku], interval: code });
    const seconds = INTERVALS.find(([c]) => c === code)[2];
    const now = Date.now();
    const start = rfc3339(new Date(now - BARS * seconds * 1000));
    const end = rfc3339(new Date(now + seconds * 1000));
    const data = await get(`/v1/skus/${encodeURIComponent(sku)}/candles?interval=${code}&start=${start}&end=${end}`);
    if (ctx.aborted || interval !== code) return;
    candles.setCandles(data.candles);
    const latest = data.candles[data.candles.length - 1];
    if (latest) showCandle({ ...latest, interval: code });
    else candleText.textContent = `No trades in the last ${BARS} ${code} intervals.`;
    const buffered = candleBuffer;
    candleBuffer = null;
    for (const c of buffered) applyCandle(c);
  };
  const applyCandle = (c) => {
    candles.update(c);
    if (candles.lastTime !== null && Math.floor(Date.parse(c.start) / 1000) >= candles.lastTime) showCandle(c);
  };
  ctx.onCleanup(() => unsubCandles());
  for (const b of intervalButtons) {
    b.addEventListener("click", () => loadCandles(b.dataset.interval).catch((e) => console.warn(e)));
  }

  // ---- live wiring -----------------------------------------------------------
  ctx.onCleanup(ctx.feed.on("book", (e) => e.sku === sku && renderBook()));
  ctx.onCleanup(
    ctx.feed.on("trade", (t) => {
      if (t.sku !== sku) return;
      addTrade(t);
      setText(fields.last_sale, formatCents(lastTrade.price_cents), true);
      refreshSummary();
      trade.refresh();
      announcePrices();
    }),
  );
  ctx.onCleanup(ctx.feed.on("tradegap", (e) => e.sku === sku && loadTrades().catch((err) => console.warn(err))));
  // A trade canceled in settlement is no longer a sale: refetch the list and summary.
  ctx.onCleanup(
    ctx.feed.on("trade_canceled", (e) => {
      if (e.sku !== sku) return;
      loadTrades().catch((err) => console.warn(err));
      refreshSummary();
    }),
  );
  ctx.onCleanup(
    ctx.feed.on("candle", (c) => {
      if (c.sku !== sku || (c.interval ?? "1m") !== interval) return;
      if (candleBuffer) candleBuffer.push(c);
      else applyCandle(c);
    }),
  );
  ctx.onCleanup(
    ctx.feed.on("ticker", (t) => {
      if (t.sku !== sku || !summary) return;
      summary.change_24h_pct = t.change_24h_pct;
      if (t.volume_24h !== undefined) summary.volume_24h = t.volume_24h;
      showSummary();
    }),
  );
  // After a reconnect anything may have been missed: reload what is not in a snapshot.
  ctx.onCleanup(ctx.feed.on("open", () => Promise.all([loadTrades(), loadSummary(), trade.refresh()]).catch((e) => console.warn(e))));
  ctx.onCleanup(ctx.feed.subscribe({ channels: ["book", "trades", "ticker"], skus: [sku] }));

  await Promise.all([loadSummary(), loadTrades(), loadCandles(interval)]);
  if (ctx.feed.book(sku)) renderBook();
}
