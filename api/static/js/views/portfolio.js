// Portfolio: holdings valued at a chosen mark, totals, value-history chart and
// a form to add a holding by hand. Needs an API key.

import { api, get, getApiKey } from "../api.js";
import { valueChart } from "../charts.js";
import { h, setText, throttle } from "../dom.js";
import { formatCents, formatSignedCents, formatTime, parseDollars } from "../money.js";

const MARKS = [
  ["last_sale", "Last sale"],
  ["highest_bid", "Highest bid (what you could sell for now)"],
  ["lowest_ask", "Lowest ask"],
  ["mid", "Mid (between bid and ask)"],
];

export async function renderPortfolio(ctx) {
  document.title = "Portfolio · Resale Exchange";
  if (!getApiKey()) {
    ctx.main.replaceChildren(
      h("h1", null, "Portfolio"),
      h("p", { id: "portfolio-needs-key" }, "Enter your API key (or create an account) at the top of the page to see what your collection is worth."),
    );
    return;
  }
  const { products } = await get("/v1/products");
  if (ctx.aborted) return;
  const skuNames = new Map();
  for (const p of products) for (const s of p.skus) skuNames.set(s.sku, { name: p.name, size: s.size, style: p.style });

  const markSelect = h("select", { id: "mark-select" }, MARKS.map(([v, label]) => h("option", { value: v }, label)));
  const itemsBody = h("tbody", { id: "holdings-body" });
  const totalCells = {
    cost: h("td", { class: "num", dataset: { total: "cost_cents" } }),
    value: h("td", { class: "num", dataset: { total: "market_value_cents" } }),
    gain: h("td", { class: "num", dataset: { total: "unrealized_gain_cents" } }),
  };
  const table = h(
    "table",
    { id: "holdings" },
    h("caption", { class: "visually-hidden" }, "Holdings with cost, mark, market value and gain"),
    h("thead", null, h("tr", null, ["Item", "Condition", "Acquired", "Cost", "Mark", "Market value", "Gain", ""].map((t, i) => h("th", { scope: "col", class: i >= 3 && i <= 6 ? "num" : null }, t || h("span", { class: "visually-hidden" }, "Actions"))))),
    itemsBody,
    h("tfoot", null, h("tr", null, h("th", { scope: "row", colspan: "3" }, "Totals"), totalCells.cost, h("td", null), totalCells.value, totalCells.gain, h("td", null))),
  );
  const totalsList = {};
  const totals = h(
    "dl",
    { class: "stats", id: "portfolio-totals", "aria-live": "polite" },
    [
      ["market_value_cents", "Market value"],
      ["cost_cents", "Cost"],
      ["unrealized_gain_cents", "Unrealized gain"],
      ["realized_gain_cents", "Realized gain"],
      ["count", "Items"],
      ["unpriced_count", "Not yet priced"],
    ].map(([k, label]) => {
      totalsList[k] = h("dd", { dataset: { total: k } }, "…");
      return h("div", null, h("dt", null, label), totalsList[k]);
    }),
  );
  const listError = h("p", { id: "portfolio-error", class: "error", role: "alert" });

  // ---- add-holding form ------------------------------------------------------
  const skuSelect = h(
    "select",
    { id: "holding-sku", name: "sku", required: true },
    products.map((p) => h("optgroup", { label: `${p.name} (${p.style})` }, p.skus.map((s) => h("option", { value: s.sku }, `${p.name} size ${s.size}`)))),
  );
  const priceInput = h("input", { id: "holding-price", name: "price", inputmode: "decimal", autocomplete: "off", required: true });
  const dateInput = h("input", { id: "holding-date", name: "acquired", type: "date", required: true, value: new Date().toISOString().slice(0, 10) });
  const condition = h("select", { id: "holding-condition", name: "condition" }, h("option", { value: "new" }, "New"), h("option", { value: "used" }, "Used"));
  const formError = h("p", { id: "holding-error", class: "error", role: "alert" });
  const formMessage = h("p", { id: "holding-message", class: "ok", role: "status" });
  const form = h(
    "form",
    { id: "holding-form", class: "stack", novalidate: true },
    h("label", { for: "holding-sku" }, "Item and size", skuSelect),
    h("label", { for: "holding-price" }, "Purchase price ($)", priceInput),
    h("label", { for: "holding-date" }, "Acquired on", dateInput),
    h("label", { for: "holding-condition" }, "Condition", condition),
    h("button", { type: "submit", class: "primary" }, "Add holding"),
    formError,
    formMessage,
  );

  const chartBox = h("div", { class: "chart", id: "value-chart" });
  // The chart's latest point in words: for screen readers, and so the figure
  // can be checked against GET /v1/portfolio/history.
  const historyLatest = h("p", { id: "history-latest", class: "hint" }, "");

  ctx.main.replaceChildren(
    h("h1", null, "Portfolio"),
    h("p", { class: "subtitle" }, "What your collection is worth at the market's prices (before fees)."),
    h("p", { class: "toolbar" }, h("label", { for: "mark-select" }, "Value holdings at"), markSelect),
    h(
      "div",
      { class: "grid" },
      h("section", { class: "panel wide", "aria-labelledby": "totals-h" }, h("h2", { id: "totals-h" }, "Totals"), totals),
      h("section", { class: "panel wide", "aria-labelledby": "holdings-h" }, h("h2", { id: "holdings-h" }, "Holdings"), table, listError),
      h("section", { class: "panel", "aria-labelledby": "history-h" }, h("h2", { id: "history-h" }, "Value history"), h("figure", null, chartBox, h("figcaption", { class: "hint" }, "Daily market value of what you held each day (blue) against its cost (grey), at each day's last sale.")), historyLatest),
      h("section", { class: "panel", "aria-labelledby": "add-h" }, h("h2", { id: "add-h" }, "Add a holding"), form),
    ),
  );
  const chart = await valueChart(chartBox);
  ctx.onCleanup(() => chart.destroy());

  let held = [];
  let unsubTicker = () => {};
  ctx.onCleanup(() => unsubTicker());

  const load = async () => {
    const mark = markSelect.value;
    const data = await api("GET", `/v1/portfolio?mark=${encodeURIComponent(mark)}`);
    if (ctx.aborted || mark !== markSelect.value) return;
    itemsBody.replaceChildren(
      ...data.items.map((it) => {
        const info = skuNames.get(it.sku);
        const label = info ? `${info.name} size ${info.size}` : it.sku;
        const href = info ? `#/product/${encodeURIComponent(info.style)}?size=${encodeURIComponent(info.size)}` : null;
        const gainClass = it.unrealized_gain_cents > 0 ? "num up" : it.unrealized_gain_cents < 0 ? "num down" : "num";
        const removable = it.source === "manual";
        return h(
          "tr",
          { dataset: { holdingId: String(it.id), sku: it.sku } },
          h("td", null, href ? h("a", { href }, label) : label, h("br"), h("span", { class: "hint" }, it.sku)),
          h("td", null, it.condition === "used" ? "Used" : "New"),
          h("td", null, formatTime(it.acquired_at).slice(0, 10)),
          h("td", { class: "num" }, formatCents(it.purchase_price_cents)),
          h("td", { class: "num" }, formatCents(it.mark_cents)),
          h("td", { class: "num" }, it.market_value_cents === null ? "Not priced" : formatCents(it.market_value_cents)),
          h("td", { class: gainClass }, formatSignedCents(it.unrealized_gain_cents)),
          h("td", null, removable
            ? h("button", { type: "button", "aria-label": `Remove ${label} bought for ${formatCents(it.purchase_price_cents)}`, onclick: () => remove(it.id) }, "Remove")
            : ""),
        );
      }),
    );
    if (!data.items.length) itemsBody.append(h("tr", null, h("td", { colspan: "8" }, "No holdings yet. Add one below, or buy on a product page.")));
    const t = data.totals;
    setText(totalCells.cost, formatCents(t.cost_cents));
    setText(totalCells.value, formatCents(t.market_value_cents));
    setText(totalCells.gain, formatSignedCents(t.unrealized_gain_cents));
    for (const k of ["market_value_cents", "cost_cents"]) setText(totalsList[k], formatCents(t[k]), true);
    for (const k of ["unrealized_gain_cents", "realized_gain_cents"]) setText(totalsList[k], formatSignedCents(t[k] ?? 0), true);
    setText(totalsList.count, String(t.count ?? data.items.length));
    setText(totalsList.unpriced_count, String(t.unpriced_count ?? 0));
    // Follow the prices of what is held.
    const skus = [...new Set(data.items.map((it) => it.sku))].sort();
    if (skus.join() !== held.join()) {
      unsubTicker();
      held = skus;
      unsubTicker = skus.length ? ctx.feed.subscribe({ channels: ["ticker"], skus }) : () => {};
    }
  };
  const loadHistory = async () => {
    const data = await api("GET", "/v1/portfolio/history?interval=1d");
    if (ctx.aborted) return;
    const points = data.points ?? [];
    chart.setPoints(points);
    const last = points[points.length - 1];
    historyLatest.textContent = last
      ? `${last.date ?? last.time}: value ${formatCents(last.value_cents)}, cost ${formatCents(last.cost_cents)}`
      : "";
  };
  const refresh = () =>
    Promise.all([load(), loadHistory()]).then(
      () => (listError.textContent = ""),
      (err) => {
        if (!ctx.aborted) listError.textContent = err.message;
      },
    );
  // A sale of a held SKU moves today's point of the history too, not only the
  // totals: reload both (at most once a second).
  const refreshSoon = throttle(() => Promise.all([load(), loadHistory()]).catch((e) => console.warn(e)), 1000);
  ctx.onCleanup(() => refreshSoon.cancel());
  ctx.onCleanup(ctx.feed.on("ticker", (t) => held.includes(t.sku) && refreshSoon()));

  async function remove(id) {
    try {
      await api("DELETE", `/v1/portfolio/items/${id}`);
    } catch (err) {
      listError.textContent = err.message;
      return;
    }
    await refresh();
  }

  markSelect.addEventListener("change", () => load().catch((err) => (listError.textContent = err.message)));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    formError.textContent = "";
    formMessage.textContent = "";
    const cents = parseDollars(priceInput.value);
    if (cents === null) {
      formError.textContent = "Enter the purchase price in dollars, like 185 or 185.50.";
      priceInput.focus();
      return;
    }
    if (!dateInput.value) {
      formError.textContent = "Enter the date you acquired it.";
      dateInput.focus();
      return;
    }
    try {
      await api("POST", "/v1/portfolio/items", {
        sku: skuSelect.value,
        purchase_price_cents: cents,
        acquired_at: `${dateInput.value}T00:00:00Z`,
        condition: condition.value,
      });
    } catch (err) {
      formError.textContent = err.message;
      return;
    }
    formMessage.textContent = `Added ${skuSelect.selectedOptions[0].textContent} bought for ${formatCents(cents)}.`;
    priceInput.value = "";
    await refresh();
  });

  await refresh();
}
