// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), the checksum zip entries carry. Written in
// TypeScript because zlib.crc32 only exists from Node 20.15 and 22.2, and this package supports 20.10.

const table = buildTable();

function buildTable(): Uint32Array {
  const result = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    result[n] = c >>> 0;
  }
  return result;
}

/** Returns the CRC-32 of `bytes` continued from `previous` (0 for a new checksum), as an unsigned integer. */
export function crc32(bytes: Uint8Array, previous = 0): number {
  let c = (previous ^ 0xffffffff) >>> 0;
  for (let i = 0; i < bytes.length; i++) c = table[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
