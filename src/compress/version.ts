/**
 * The library version written into the files webgpu-quant produces (a unit test keeps it equal to
 * package.json's; importing package.json here would put it outside the declaration build's root).
 *
 * @example
 * ```ts
 * import { WEBGPU_QUANT_VERSION } from 'webgpu-quant';
 * WEBGPU_QUANT_VERSION; // '0.1.0'
 * ```
 * @module
 */

/** This release's version. */
export const WEBGPU_QUANT_VERSION = '0.1.0';
