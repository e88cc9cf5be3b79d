/**
 * The library version written into the files webgpu-quant produces (a unit test keeps it equal to
 * package.json's; importing package.json here would put it outside the declaration build's root), and the key it
 * is recorded under in ONNX models.
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

/** The `metadata_props` key webgpu-quant records itself under in the ONNX models it writes. */
export const ONNX_METADATA_KEY = 'webgpu-quant';
