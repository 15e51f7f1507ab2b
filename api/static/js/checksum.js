// The book checksum rule of DESIGN.md, the same as orderbook/checksum.py:
// zlib.crc32 (unsigned) of "ASKS|BIDS", each side its top 10 levels
// "price_cents:quantity" joined by ",", asks lowest first, bids highest first.

export const CHECKSUM_DEPTH = 10;

const TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (the zlib/IEEE polynomial) of an ASCII string, unsigned. */
export function crc32(text) {
  let crc = 0xffffffff;
  for (let i = 0; i < text.length; i++) {
    crc = TABLE[(crc ^ text.charCodeAt(i)) & 0xff] ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * Checksum of a book's top levels.
 * @param {Array<[number, number]>} asks lowest price first
 * @param {Array<[number, number]>} bids highest price first
 */
export function bookChecksum(asks, bids) {
  const side = (levels) =>
    levels.slice(0, CHECKSUM_DEPTH).map(([p, q]) => `${p}:${q}`).join(",");
  return crc32(`${side(asks)}|${side(bids)}`);
}
