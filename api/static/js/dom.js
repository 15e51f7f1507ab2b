// A tiny DOM builder: h("p", {class: "x"}, "text", child). Text is always set
// as text (never parsed as HTML), so server data cannot inject markup.

/**
 * Create an element.
 * @param {string} tag
 * @param {object|null} attrs attributes; "on*" keys add listeners, "dataset" sets data-*
 * @param {...(Node|string|number|null|false|Array)} children
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "class") el.className = v;
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

/** Set an element's text only when it changed; flash it when asked (price moves). */
export function setText(el, text, flash = false) {
  if (!el || el.textContent === text) return;
  el.textContent = text;
  if (flash) {
    el.classList.remove("flash");
    // Restart the animation: reading offsetWidth forces a style flush.
    void el.offsetWidth;
    el.classList.add("flash");
  }
}

/** Run fn at most once per animation frame, with the latest arguments. */
export function perFrame(fn) {
  let pending = false;
  let args = [];
  return (...a) => {
    args = a;
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      fn(...args);
    });
  };
}

/** Call fn once `ms` after the last call (trailing debounce). */
export function debounce(fn, ms) {
  let timer = null;
  const wrapped = (...a) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...a), ms);
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}

/** Call fn at most every `ms`, always ending with a call after the last request. */
export function throttle(fn, ms) {
  let last = 0;
  let timer = null;
  const wrapped = () => {
    const wait = last + ms - Date.now();
    if (wait <= 0) {
      last = Date.now();
      fn();
    } else if (!timer) {
      timer = setTimeout(() => {
        timer = null;
        last = Date.now();
        fn();
      }, wait);
    }
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}
