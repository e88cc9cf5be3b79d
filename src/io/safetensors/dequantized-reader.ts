/**
 * A view of a "webgpu-quant/1" file (see `quantized-layout.ts`) with every quantized weight dequantized back
 * to float32: its three stored tensors (`W`, `W.scale`, `W.zero_point`) appear as one float32 weight `W` of
 * the logical shape, and the `webgpu_quant.*` metadata is gone. Compressing this view quantizes those
 * weights again under a new policy (`compress --requantize`); the other tensors and metadata keys pass
 * through unchanged. Dequantizing is exact (`(q - zero_point) × scale` in float32, as PyTorch does), so
 * requantizing with the same scheme gives the same integers back.
 *
 * @example
 * ```ts
 * const reader = await openSafetensorsFile('model.q8.safetensors');
 * const floats = dequantizedReader(reader);
 * floats.list().find((w) => w.name === 'fc.weight'); // { name: 'fc.weight', dtype: 'float32', shape: [64, 32], byteLength: 8192 }
 * const report = await compressToSafetensors(floats, decideWeights(floats.list(), { dtype: 'qint4', granularity: 'group' }), sink);
 * ```
 * @module
 */
import { dequantize } from '../../reference/dequantize.js';
import type { WeightInfo, WeightReader } from '../weights.js';
import { QUANTIZED_METADATA_PREFIX } from './quantized-layout.js';
import { type QuantizedSource, type QuantizedTensorDescription, describeQuantized, readQuantizedTensor } from './quantized-read.js';

/** A {@link WeightReader} with the file's name and its remaining metadata. */
export interface DequantizedReader extends WeightReader {
  readonly name: string;
  /** The source's metadata without the `webgpu_quant.*` keys. */
  readonly metadata: ReadonlyMap<string, string>;
  /** The names of the weights shown dequantized. */
  readonly dequantized: ReadonlySet<string>;
}

/**
 * The float32 view of `reader` described in the module documentation. Validates the layout up front
 * ({@link FormatError} for an inconsistent file); a file without quantized weights is shown as it is.
 *
 * @example
 * ```ts
 * const view = dequantizedReader(reader);
 * new Float32Array((await view.read('fc.weight')).buffer); // the dequantized values
 * ```
 */
export function dequantizedReader(reader: QuantizedSource): DequantizedReader {
  const descriptions = describeQuantized(reader);
  const owner = new Map<string, QuantizedTensorDescription>();
  for (const d of descriptions.values()) for (const entry of d.layout.entries) owner.set(entry.name, d);
  const metadata = new Map([...reader.metadata].filter(([key]) => !key.startsWith(QUANTIZED_METADATA_PREFIX)));

  const list = (): WeightInfo[] => {
    const out: WeightInfo[] = [];
    for (const info of reader.list()) {
      const d = owner.get(info.name);
      if (d === undefined) out.push({ name: info.name, dtype: info.dtype, shape: info.shape, byteLength: info.byteLength });
      else if (d.layout.entries[0].name === info.name) {
        // The weight takes the place of its data tensor; its scale and zero point disappear.
        out.push({ name: d.name, dtype: 'float32', shape: [...d.shape], byteLength: 4 * d.shape.reduce((a, b) => a * b, 1) });
      }
    }
    return out;
  };
  return {
    name: reader.name,
    metadata,
    dequantized: new Set(descriptions.keys()),
    list,
    async read(name: string): Promise<Uint8Array> {
      const d = descriptions.get(name);
      if (d === undefined || owner.get(name) !== d) return reader.read(name);
      const values = dequantize(await readQuantizedTensor(reader, d)).data;
      return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    },
  };
}
