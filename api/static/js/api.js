// REST client. The API key lives in sessionStorage only (never in a URL, never
// in localStorage): it is gone when the tab closes.

const KEY_STORAGE = "resale-exchange.api-key";

/** An error answer of the API: an RFC 9457 problem. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem ?? {};
    this.code = this.problem.code ?? null;
  }
}

export function getApiKey() {
  return sessionStorage.getItem(KEY_STORAGE);
}

export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
  window.dispatchEvent(new CustomEvent("apikeychange"));
}

/**
 * Call the REST API.
 * @param {string} method
 * @param {string} path e.g. "/v1/skus/X"
 * @param {object} [body] JSON body
 * @param {{auth?: boolean}} [opts] auth: send the stored key (default true when one is stored)
 * @returns {Promise<any>} the parsed JSON answer
 * @throws {ApiError} with the server's problem (detail is the human sentence)
 */
export async function api(method, path, body, opts = {}) {
  const headers = { Accept: "application/json" };
  const key = getApiKey();
  if (key && opts.auth !== false) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(0, { title: "Network error", detail: `The server could not be reached (${err.message}).` });
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { detail: text };
    }
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

/** GET a public resource (no key sent). */
export const get = (path) => api("GET", path, undefined, { auth: false });

/** Seconds-precision RFC 3339 UTC of a Date (the API's time format). */
export function rfc3339(date) {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Run async jobs with at most `limit` in flight; results in input order. */
export async function pool(items, limit, job) {
  const results = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        results[i] = await job(items[i], i);
      } catch (err) {
        results[i] = err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
