/**
 * Byte counts for people, in decimal units everywhere the command line prints a size (1 kB = 1000 bytes,
 * 1 MB = 10^6 bytes, 1 GB = 10^9 bytes), as its help says.
 *
 * @example
 * ```ts
 * formatBytes(5160);      // '5.16 kB'
 * formatBytes(1_780_000); // '1.78 MB'
 * formatBytes(12);        // '12 B'
 * ```
 * @module
 */

/**
 * `bytes` in B, kB, MB, GB or TB (powers of 1000), with two decimals above 1000 bytes.
 *
 * @example
 * ```ts
 * formatBytes(4416); // '4.42 kB'
 * ```
 */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || Math.abs(bytes) < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes / 1000;
  let unit = 0;
  while (Math.abs(value) >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(2)} ${units[unit]}`;
}

/**
 * `bytes` in MB (10^6 bytes) with two decimals: the compress summary's unit.
 *
 * @example
 * ```ts
 * megabytes(1_780_000); // '1.78 MB'
 * ```
 */
export function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(2)} MB`;
}
