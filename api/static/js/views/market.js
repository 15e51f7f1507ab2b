// Market: every product with its SKUs' lowest ask, highest bid, last sale and
// 24h change, searchable, live from the feed's ticker "*" subscription.

import { get, pool } from "../api.js";
import { h, setText, throttle } from "../dom.js";
import { formatCents, formatPct } from "../money.js";

const FIELDS = ["lowest_ask", "highest_bid", "last_sale", "change_24h"];

export async function renderMarket(ctx) {
  document.title = "Market · Resale Exchange";
  const { products } = await get("/v1/products");
  if (ctx.aborted) return;

  const rows = new Map(); // sku -> {cells}
  const groups = [];
  const table = h(
    "table",
    { id: "market-table" },
    h("caption", null, "Products and sizes (prices before fees)"),
    h(
      "thead",
      null,
      h(
        "tr",
        null,
        h("th", { scope: "col" }, "Size"),
        h("th", { scope: "col" }, "SKU"),
        h("th", { scope: "col", class: "num" }, "Lowest ask"),
        h("th", { scope: "col", class: "num" }, "Highest bid"),
        h("th", { scope: "col", class: "num" }, "Last sale"),
        h("th", { scope: "col", class: "num" }, "24h change"),
      ),
    ),
  );
  for (const product of products) {
    const body = h(
      "tbody",
      { class: "product", dataset: { style: product.style } },
      h(
        "tr",
        null,
        h(
          "th",
          { scope: "rowgroup", colspan: "6", id: `product-${product.style}` },
          h("a", { href: `#/product/${encodeURIComponent(product.style)}` }, product.name),
          h("span", { class: "meta" }, `${product.brand} · ${product.style} · retail ${formatCents(product.retail_price_cents)}`),
        ),
      ),
    );
    for (const { sku, size } of product.skus) {
      const cells = Object.fromEntries(FIELDS.map((f) => [f, h("td", { class: "num", dataset: { field: f } }, "…")]));
      body.append(
        h(
          "tr",
          { dataset: { sku } },
          h("td", null, h("a", { href: `#/product/${encodeURIComponent(product.style)}?size=${encodeURIComponent(size)}`, "aria-describedby": `product-${product.style}` }, `Size ${size}`)),
          h("td", null, sku),
          FIELDS.map((f) => cells[f]),
        ),
      );
      rows.set(sku, cells);
    }
    table.append(body);
    groups.push({ body, text: `${product.name} ${product.brand} ${product.style}`.toLowerCase() });
  }

  const search = h("input", { id: "market-search", type: "search", autocomplete: "off", placeholder: "e.g. Jordan, Nike, DZ5485" });
  const found = h("p", { id: "search-count", class: "hint", role: "status" }, `${products.length} products`);
  search.addEventListener("input", () => {
    const words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    for (const g of groups) {
      const match = words.every((w) => g.text.includes(w));
      g.body.hidden = !match;
      if (match) shown++;
    }
    found.textContent = `${shown} of ${products.length} products`;
  });

  const announce = h("p", { id: "market-announce", class: "visually-hidden", "aria-live": "polite" });
  let lastTrade = null;
  const announceLater = throttle(() => {
    if (lastTrade) announce.textContent = `Last sale ${lastTrade.sku} at ${formatCents(lastTrade.price)}`;
  }, 10000);
  ctx.onCleanup(() => announceLater.cancel());

  ctx.main.replaceChildren(
    h("h1", null, "Market"),
    h("p", { class: "subtitle" }, "Live prices of every product and size. Pick a size to see its chart, order book and to trade."),
    h("div", { class: "search", role: "search" }, h("label", { for: "market-search" }, "Search by name, brand or style"), search, found),
    announce,
    h("div", { class: "panel" }, table),
  );

  const show = (sku, s, flash) => {
    const cells = rows.get(sku);
    if (!cells) return;
    setText(cells.lowest_ask, formatCents(s.lowest_ask_cents), flash);
    setText(cells.highest_bid, formatCents(s.highest_bid_cents), flash);
    setText(cells.last_sale, formatCents(s.last_sale_cents), flash);
    setText(cells.change_24h, formatPct(s.change_24h_pct), flash);
    cells.change_24h.className = `num ${s.change_24h_pct > 0 ? "up" : s.change_24h_pct < 0 ? "down" : ""}`;
  };

  // Live first, so that nothing between the REST answers and the subscription
  // is missed; a REST answer older than a ticker already shown is skipped.
  const tickerSeq = new Map();
  ctx.onCleanup(
    ctx.feed.on("ticker", (t) => {
      if ((tickerSeq.get(t.sku) ?? -1) > t.sequence) return;
      tickerSeq.set(t.sku, t.sequence);
      show(t.sku, {
        lowest_ask_cents: t.best_ask_cents,
        highest_bid_cents: t.best_bid_cents,
        last_sale_cents: t.last_sale_cents,
        change_24h_pct: t.change_24h_pct,
      }, true);
      if (t.last_sale_cents !== null && t.last_sale_cents !== undefined) {
        lastTrade = { sku: t.sku, price: t.last_sale_cents };
        announceLater();
      }
    }),
  );
  ctx.onCleanup(ctx.feed.subscribe({ channels: ["ticker"], skus: ["*"] }));

  await pool([...rows.keys()], 6, async (sku) => {
    // A SKU whose ticker already came needs no REST call.
    if (ctx.aborted || tickerSeq.has(sku)) return;
    const s = await get(`/v1/skus/${encodeURIComponent(sku)}`);
    if (ctx.aborted || tickerSeq.has(sku)) return;
    show(sku, s, false);
  });
}
