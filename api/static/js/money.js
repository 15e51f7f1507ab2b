// Money on the page: integer cents in, text out, with integer math only.
// A price typed by the user is parsed as a decimal string, never as a float.

/**
 * Format integer cents as US dollars: 123456 -> "$1,234.56".
 * @param {number|null|undefined} cents integer cents
 * @returns {string} "—" for null/undefined
 */
export function formatCents(cents) {
  if (cents === null || cents === undefined) return "—";
  if (!Number.isSafeInteger(cents)) return "—";
  const negative = cents < 0;
  const abs = Math.abs(cents);
  const dollars = String((abs - (abs % 100)) / 100);
  const rest = String(abs % 100).padStart(2, "0");
  // Thousands separators on the digit string, so no float ever appears.
  const grouped = dollars.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${negative ? "-" : ""}$${grouped}.${rest}`;
}

/** Signed dollars: "+$12.00" / "-$3.50" / "$0.00". */
export function formatSignedCents(cents) {
  if (cents === null || cents === undefined) return "—";
  return cents > 0 ? `+${formatCents(cents)}` : formatCents(cents);
}

/**
 * Parse a dollar amount typed by a person ("185", "185.5", "$1,185.50") into cents.
 * @param {string} text
 * @returns {number|null} integer cents, or null when it is not an amount
 */
export function parseDollars(text) {
  const m = /^\s*\$?\s*(\d{1,3}(?:,\d{3})+|\d{1,10})(?:\.(\d{0,2}))?\s*$/.exec(text ?? "");
  if (!m) return null;
  const whole = Number.parseInt(m[1].replaceAll(",", ""), 10);
  const frac = Number.parseInt(((m[2] ?? "") + "00").slice(0, 2), 10);
  const cents = whole * 100 + frac;
  return Number.isSafeInteger(cents) ? cents : null;
}

/** Cents as a plain decimal string for an input field: 18550 -> "185.50". */
export function centsToInput(cents) {
  if (cents === null || cents === undefined) return "";
  return formatCents(cents).replace(/[$,]/g, "");
}

/**
 * A percentage figure from the server (already a percent number, e.g. 12.5) as "+12.50%".
 * Percentages are not money; they arrive as numbers and are only displayed.
 */
export function formatPct(pct) {
  if (pct === null || pct === undefined || Number.isNaN(pct)) return "—";
  const text = `${Math.abs(pct).toFixed(2)}%`;
  if (pct > 0) return `+${text}`;
  if (pct < 0) return `-${text}`;
  return text;
}

/** A fraction (0.1234) as a percent "12.34%" (volatility). */
export function formatFraction(x) {
  if (x === null || x === undefined || Number.isNaN(x)) return "—";
  return `${(x * 100).toFixed(2)}%`;
}

/** RFC 3339 time -> short local-free UTC text "2026-11-25 15:44:23 UTC". */
export function formatTime(rfc3339) {
  if (!rfc3339) return "—";
  const d = new Date(rfc3339);
  if (Number.isNaN(d.getTime())) return String(rfc3339);
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

/** RFC 3339 -> "15:44:23" (UTC), for dense lists. */
export function formatClock(rfc3339) {
  const d = new Date(rfc3339);
  if (Number.isNaN(d.getTime())) return String(rfc3339);
  return d.toISOString().slice(11, 19);
}
