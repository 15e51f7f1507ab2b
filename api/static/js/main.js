// The app shell: hash router, the account box and the feed status line.
// Routes: #/ (market), #/product/STYLE?size=SIZE, #/portfolio.

import { api, get, getApiKey, setApiKey } from "./api.js";
import { h } from "./dom.js";
import { Feed } from "./feed.js";
import { renderMarket } from "./views/market.js";
import { renderPortfolio } from "./views/portfolio.js";
import { renderProduct } from "./views/product.js";

const main = document.getElementById("main");
const statusEl = document.getElementById("feed-status");
const accountEl = document.getElementById("account");
let feed = null;
let current = null; // {abort: AbortController, cleanups: []}

function parseRoute() {
  const hash = location.hash || "#/";
  const [path, query] = hash.slice(1).split("?");
  const params = new URLSearchParams(query ?? "");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0) return { name: "market", params };
  if (parts[0] === "product" && parts.length === 2) return { name: "product", style: parts[1], params };
  if (parts[0] === "portfolio" && parts.length === 1) return { name: "portfolio", params };
  return { name: "notfound", params };
}

async function route() {
  if (current) {
    current.abort.abort();
    for (const fn of current.cleanups.splice(0)) fn();
  }
  const r = parseRoute();
  const ctx = {
    feed,
    main,
    abort: new AbortController(),
    cleanups: [],
    onCleanup(fn) {
      // A view that finishes wiring after the user left runs its undo at once,
      // so no subscription or chart outlives its page.
      if (this.abort.signal.aborted) fn();
      else this.cleanups.push(fn);
    },
    get aborted() {
      return this.abort.signal.aborted;
    },
  };
  current = ctx;
  for (const a of document.querySelectorAll("nav a[data-nav]")) {
    if (a.dataset.nav === r.name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  delete main.dataset.ready;
  main.replaceChildren(h("p", { class: "loading" }, "Loading…"));
  try {
    if (r.name === "market") await renderMarket(ctx);
    else if (r.name === "product") await renderProduct(ctx, r.style, r.params.get("size"));
    else if (r.name === "portfolio") await renderPortfolio(ctx);
    else {
      document.title = "Not found · Resale Exchange";
      main.replaceChildren(h("h1", { tabindex: "-1" }, "Page not found"), h("p", null, h("a", { href: "#/" }, "Back to the market")));
    }
  } catch (err) {
    if (ctx.aborted) return;
    console.warn("view failed", err);
    main.replaceChildren(
      h("h1", { tabindex: "-1" }, "Something went wrong"),
      h("p", { class: "error", role: "alert" }, err.message ?? String(err)),
      h("p", null, h("a", { href: "#/" }, "Back to the market")),
    );
  }
  if (!ctx.aborted) {
    // Tests and tools wait for this: the view has its first data.
    main.dataset.ready = r.name;
    // Move focus to the new page's heading so keyboard and screen-reader users
    // start at the top of what changed.
    const heading = main.querySelector("h1");
    if (heading && document.activeElement === document.body) {
      heading.setAttribute("tabindex", "-1");
      heading.focus({ preventScroll: true });
    }
  }
}

function renderStatus({ state, resyncs }) {
  const words = { connecting: "connecting…", live: "live", reconnecting: "reconnecting…" };
  statusEl.dataset.state = state;
  statusEl.dataset.resyncs = String(resyncs);
  statusEl.textContent = `Feed: ${words[state] ?? state}${resyncs ? ` (resynced ${resyncs}×)` : ""}`;
}

function renderAccount() {
  const key = getApiKey();
  const heading = h("h2", { id: "account-heading", class: "visually-hidden" }, "Account");
  if (key) {
    const id = sessionStorage.getItem("resale-exchange.account-id");
    accountEl.replaceChildren(
      heading,
      h("p", { id: "signed-in" }, id ? `Signed in as ${id}` : `Signed in with key …${key.slice(-4)}`),
      h("button", { type: "button", id: "forget-key", onclick: () => forget() }, "Forget key"),
    );
    return;
  }
  const input = h("input", { id: "api-key", name: "api-key", type: "password", autocomplete: "off", size: "22", required: true });
  const keyForm = h(
    "form",
    { id: "key-form", onsubmit: (e) => {
      e.preventDefault();
      const value = input.value.trim();
      if (value) {
        sessionStorage.removeItem("resale-exchange.account-id");
        setApiKey(value);
      }
    } },
    h("label", { for: "api-key" }, "API key"),
    input,
    h("button", { type: "submit" }, "Use key"),
  );
  const message = h("p", { id: "account-message", class: "error", role: "alert" });
  const nameInput = h("input", { id: "new-account-name", name: "name", size: "12", required: true, autocomplete: "off" });
  const createForm = h(
    "form",
    { id: "create-account-form", onsubmit: async (e) => {
      e.preventDefault();
      message.textContent = "";
      try {
        const acc = await api("POST", "/v1/accounts", { name: nameInput.value.trim() }, { auth: false });
        sessionStorage.setItem("resale-exchange.account-id", acc.account_id);
        setApiKey(acc.api_key);
      } catch (err) {
        message.textContent = err.message;
      }
    } },
    h("label", { for: "new-account-name" }, "or new account named"),
    nameInput,
    h("button", { type: "submit" }, "Create"),
  );
  accountEl.replaceChildren(heading, keyForm, createForm, message);
}

function forget() {
  sessionStorage.removeItem("resale-exchange.account-id");
  setApiKey(null);
}

async function start() {
  document.getElementById("skip-link").addEventListener("click", () => main.focus());
  renderAccount();
  window.addEventListener("apikeychange", () => {
    renderAccount();
    route();
  });
  try {
    const config = await get("/v1/config");
    feed = new Feed(config.feed_url);
    feed.on("status", renderStatus);
    feed.connect();
  } catch (err) {
    renderStatus({ state: "unavailable", resyncs: 0 });
    console.warn("no feed configuration", err);
    // Views keep working from REST alone.
    feed = { on: () => () => {}, subscribe: () => () => {}, book: () => null };
  }
  window.addEventListener("hashchange", route);
  // Exposed for the browser tests and for curious people at the console.
  window.exchangeFeed = feed;
  await route();
}

start();
