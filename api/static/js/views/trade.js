// Trading panel of a SKU page: place a bid or an ask (limit with expiry, or
// Buy Now / Sell Now = a market order with price protection), my open orders
// with cancel, my trades with their settlement state and "mark shipped".
// The server's problem `detail` is shown next to the form; on an error
// nothing changes (the server guarantees it; the page only reports it).

import { api, getApiKey } from "../api.js";
import { h, throttle } from "../dom.js";
import { centsToInput, formatCents, formatClock, parseDollars } from "../money.js";

const SETTLEMENT_WORDS = {
  awaiting_shipment: "Awaiting shipment",
  shipped: "Shipped, authenticating",
  delivered: "Delivered",
  canceled: "Canceled",
};

/**
 * Build the panel.
 * @param {object} ctx the view context
 * @param {{sku: string, bestPrices: () => {bid: number|null, ask: number|null}, rules: () => object|null}} opts
 * @returns {Promise<{element: HTMLElement, refresh: () => void}>}
 */
export async function renderTradePanel(ctx, { sku, bestPrices, rules }) {
  const section = h("section", { class: "panel wide", id: "trade-panel", "aria-labelledby": "trade-h" }, h("h2", { id: "trade-h" }, "Trade"));
  if (!getApiKey()) {
    section.append(h("p", { class: "hint", id: "trade-needs-key" }, "Enter your API key (or create an account) at the top of the page to place bids and asks."));
    return { element: section, refresh() {} };
  }

  const radio = (name, value, label, checked) => {
    const id = `${name}-${value}`;
    return h("label", { for: id }, h("input", { type: "radio", id, name, value, checked }), label);
  };
  const price = h("input", { id: "order-price", name: "price", inputmode: "decimal", autocomplete: "off", required: true, "aria-describedby": "price-hint" });
  const quantity = h("input", { id: "order-quantity", name: "quantity", type: "number", min: "1", step: "1", value: "1", required: true });
  const expiry = h("input", { id: "order-expiry", name: "expires_in_days", type: "number", min: "1", max: "365", step: "1", value: "30" });
  const priceLabel = h("span", null, "Price ($)");
  const expiryLabel = h("label", { for: "order-expiry", id: "expiry-label" }, "Expires in (days)", expiry);
  const priceHint = h("p", { id: "price-hint", class: "hint" }, "");
  const submit = h("button", { type: "submit", class: "primary", id: "order-submit" }, "Place bid");
  const error = h("p", { id: "order-error", class: "error", role: "alert", "aria-live": "assertive" });
  const message = h("p", { id: "order-message", class: "ok", role: "status", "aria-live": "polite" });
  let priceEdited = false;
  price.addEventListener("input", () => (priceEdited = true));

  const form = h(
    "form",
    { id: "order-form", class: "stack", novalidate: true },
    h("fieldset", null, h("legend", null, "Side"), radio("side", "bid", "Bid (buy)", true), radio("side", "ask", "Ask (sell)", false)),
    h("fieldset", null, h("legend", null, "Order type"), radio("kind", "limit", "Limit", true), radio("kind", "market", "Buy Now / Sell Now", false)),
    h("label", { for: "order-price" }, priceLabel, price),
    priceHint,
    h("label", { for: "order-quantity" }, "Quantity", quantity),
    expiryLabel,
    submit,
    error,
    message,
  );

  const side = () => form.elements.side.value;
  const kind = () => form.elements.kind.value;
  const sync = () => {
    const market = kind() === "market";
    submit.textContent = market ? (side() === "bid" ? "Buy Now" : "Sell Now") : side() === "bid" ? "Place bid" : "Place ask";
    priceLabel.textContent = market ? (side() === "bid" ? "Highest price you accept ($)" : "Lowest price you accept ($)") : "Price ($)";
    expiry.disabled = market;
    // A market order never rests, so it has no expiry to choose.
    expiryLabel.hidden = market;
    const r = rules();
    const tick = r?.tick_size_cents ? `Prices in steps of ${formatCents(r.tick_size_cents)}. ` : "";
    priceHint.textContent = market
      ? `${tick}A Buy Now / Sell Now order trades at once at the best prices, never past this one, and never rests.`
      : `${tick}A limit order rests in the book until it fills, is canceled or expires.`;
    if (!priceEdited) {
      const best = bestPrices();
      // Buy Now protects at the lowest ask, Sell Now at the highest bid;
      // a limit order starts at the best price of its own side.
      const guess = market ? (side() === "bid" ? best.ask : best.bid) : side() === "bid" ? best.bid ?? best.ask : best.ask ?? best.bid;
      price.value = centsToInput(guess);
    }
  };
  form.addEventListener("change", (e) => {
    if (e.target.name === "side" || e.target.name === "kind") {
      priceEdited = false;
      sync();
    }
  });

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    message.textContent = "";
    const cents = parseDollars(price.value);
    if (cents === null) {
      error.textContent = "Enter the price in dollars, like 185 or 185.50.";
      price.focus();
      return;
    }
    const qty = Number(quantity.value);
    const body = { sku, side: side(), type: kind(), price_cents: cents, quantity: Number.isInteger(qty) ? qty : quantity.value };
    if (kind() === "limit" && expiry.value !== "") body.expires_in_days = Number(expiry.value);
    submit.disabled = true;
    try {
      const { order, fills } = await api("POST", "/v1/orders", body);
      const filled = fills?.length ? `, ${order.filled_quantity} filled` : "";
      message.textContent = `Order ${order.id} ${order.status}${filled}: ${order.side} ${order.quantity} at ${formatCents(order.price_cents)}.`;
      await refresh();
    } catch (err) {
      error.textContent = err.message;
    } finally {
      submit.disabled = false;
    }
  });

  // ---- my orders and trades -------------------------------------------------
  const ordersBody = h("tbody", { id: "my-orders-body" });
  const tradesBody = h("tbody", { id: "my-trades-body" });
  const listError = h("p", { id: "my-error", class: "error", role: "alert" });
  const ordersTable = h(
    "table",
    { id: "my-orders" },
    h("caption", null, "My open orders"),
    h("thead", null, h("tr", null, ["Order", "Side", "Price", "Filled / quantity", "Expires", ""].map((t, i) => h("th", { scope: "col", class: i === 2 ? "num" : null }, t || h("span", { class: "visually-hidden" }, "Actions"))))),
    ordersBody,
  );
  const tradesTable = h(
    "table",
    { id: "my-trades" },
    h("caption", null, "My trades"),
    h("thead", null, h("tr", null, ["Time (UTC)", "Side", "Price", "Quantity", "Settlement", ""].map((t, i) => h("th", { scope: "col", class: i === 2 ? "num" : null }, t || h("span", { class: "visually-hidden" }, "Actions"))))),
    tradesBody,
  );

  const act = async (fn) => {
    listError.textContent = "";
    try {
      await fn();
    } catch (err) {
      listError.textContent = err.message;
    }
    await refresh();
  };

  async function load() {
    const [{ orders }, { trades }] = await Promise.all([api("GET", "/v1/orders?status=open"), api("GET", "/v1/trades")]);
    if (ctx.aborted) return;
    const mine = orders.filter((o) => o.sku === sku).sort((a, b) => b.id - a.id);
    ordersBody.replaceChildren(
      ...mine.map((o) =>
        h(
          "tr",
          { dataset: { orderId: String(o.id) } },
          h("td", null, String(o.id)),
          h("td", null, o.side === "bid" ? "Bid" : "Ask"),
          h("td", { class: "num" }, formatCents(o.price_cents)),
          h("td", null, `${o.filled_quantity} / ${o.quantity}`),
          h("td", null, o.expires_at ? o.expires_at.slice(0, 10) : "—"),
          h("td", null, h("button", { type: "button", "aria-label": `Cancel order ${o.id}`, onclick: () => act(() => api("DELETE", `/v1/orders/${o.id}`)) }, "Cancel")),
        ),
      ),
    );
    if (!mine.length) ordersBody.append(h("tr", null, h("td", { colspan: "6" }, "No open orders on this size.")));
    const myTrades = trades.filter((t) => t.sku === sku).sort((a, b) => b.id - a.id).slice(0, 20);
    tradesBody.replaceChildren(
      ...myTrades.map((t) => {
        const mySide = t.side ?? t.account_side ?? null;
        const canShip = (mySide === "ask" || mySide === "sell") && t.settlement_status === "awaiting_shipment";
        return h(
          "tr",
          { dataset: { tradeId: String(t.id), settlement: t.settlement_status } },
          h("td", null, formatClock(t.time)),
          h("td", null, mySide === "bid" || mySide === "buy" ? "Bought" : mySide ? "Sold" : "—"),
          h("td", { class: "num" }, formatCents(t.price_cents)),
          h("td", null, String(t.quantity)),
          h("td", null, SETTLEMENT_WORDS[t.settlement_status] ?? t.settlement_status),
          h("td", null, canShip ? h("button", { type: "button", "aria-label": `Mark trade ${t.id} shipped`, onclick: () => act(() => api("POST", `/v1/trades/${t.id}/ship`)) }, "Mark shipped") : ""),
        );
      }),
    );
    if (!myTrades.length) tradesBody.append(h("tr", null, h("td", { colspan: "6" }, "No trades on this size yet.")));
  }
  const refresh = () =>
    load().catch((err) => {
      if (!ctx.aborted) listError.textContent = err.message;
    });
  const refreshSoon = throttle(refresh, 1000);
  ctx.onCleanup(() => refreshSoon.cancel());

  section.append(
    h("div", { class: "grid" }, h("div", null, h("h3", { class: "visually-hidden" }, "Place an order"), form), h("div", null, ordersTable, tradesTable, listError)),
  );
  await refresh();
  // The summary arrives after the panel is built; fill the price then.
  setTimeout(sync, 0);
  ctx.onCleanup(ctx.feed.on("book", (e) => e.sku === sku && !priceEdited && sync()));
  sync();
  return { element: section, refresh: refreshSoon };
}
