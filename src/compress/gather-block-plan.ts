/**
 * Which quantized weights `onnxOps: 'contrib'` writes as onnxruntime's `com.microsoft.GatherBlockQuantized`
 * (io/onnx/gather-block-writer.ts), and with what block size. A weight qualifies when:
 *
 * - it is 2-D ([rows, D], an embedding table), float32 or float16 (the scales take the output's type);
 * - every consumer is a default-domain `Gather` reading it as input 0 along axis 0 (the uint8 form of the
 *   kernel gathers rows: `gather_axis` 0, `quantize_axis` the last);
 * - its scheme maps onto blocks along D: groups along axis 1 of a power-of-two size from 16 to 256, per
 *   channel along axis 0 (one scale per row, repeated over blocks of the next power of two ≥ D, at most
 *   256), or per tensor;
 * - for 4 bits, D is even (two values a byte, rows packed end to end).
 *
 * Anything else (groups along the rows, a Gather along axis 1, a MatMul consumer too) stays QDQ, with
 * the reason in the report.
 *
 * @example
 * ```ts
 * gatherBlockLayout({ granularity: 'group', axis: 1, groupSize: 32 }, { shape: [50257, 768], dtype: 'float32', consumers });
 * // { ok: true, op: 'GatherBlockQuantized', blockSize: 32, parameters: 'groups' }
 * ```
 * @module
 */
import type { WeightInfo } from '../io/weights.js';
import type { OnnxConsumer } from '../io/onnx/onnx-types.js';
import { columnBlockSize } from './matmul-nbits-plan.js';
import type { WeightDecision } from './policy.js';

/** A weight's GatherBlockQuantized form, or why it has none. */
export type GatherBlockLayout =
  | { ok: true; op: 'GatherBlockQuantized'; blockSize: number; parameters: 'groups' | 'rows' | 'tensor' }
  | { ok: false; reason: string };

const isBlockSize = (n: number) => Number.isInteger(n) && n >= 16 && n <= 256 && (n & (n - 1)) === 0;

/**
 * The GatherBlockQuantized form of a quantized weight (module documentation).
 *
 * @example
 * ```ts
 * gatherBlockLayout({ granularity: 'channel', axis: 0, dtype: 'qint8' }, { shape: [1000, 100], dtype: 'float32', consumers });
 * // { ok: true, op: 'GatherBlockQuantized', blockSize: 128, parameters: 'rows' }
 * ```
 */
export function gatherBlockLayout(
  decision: Pick<WeightDecision, 'granularity' | 'axis' | 'groupSize' | 'dtype'>,
  weight: Pick<WeightInfo, 'shape' | 'dtype'> & { consumers: readonly Pick<OnnxConsumer, 'opType' | 'domain' | 'inputIndex' | 'attributes'>[] },
): GatherBlockLayout {
  const { shape, dtype, consumers } = weight;
  if (shape.length !== 2) return { ok: false, reason: `rank ${shape.length}: GatherBlockQuantized is written for 2-D embedding tables` };
  if (dtype !== 'float32' && dtype !== 'float16') return { ok: false, reason: `${dtype} weight: GatherBlockQuantized takes float32 or float16 scales` };
  const other = consumers.find((c) => c.opType !== 'Gather' || c.domain !== '' || c.inputIndex !== 0
    || ![0, -2].includes(Number(c.attributes.axis ?? 0)));
  if (consumers.length === 0 || other) {
    return { ok: false, reason: `read by ${other ? `${other.opType} input ${other.inputIndex}${other.opType === 'Gather' ? ` (axis ${String(other.attributes.axis)})` : ''}` : 'no node'}, not only as Gather data along axis 0` };
  }
  const d = shape[1]!;
  if ((decision.dtype === 'qint4' || decision.dtype === 'quint4') && d % 2 !== 0) {
    return { ok: false, reason: `row length ${d} is odd: 4-bit rows are packed two values a byte` };
  }
  if (decision.granularity === 'group') {
    if (decision.axis !== 1) return { ok: false, reason: `groups along axis ${decision.axis}: GatherBlockQuantized blocks run along the row (axis 1)` };
    const size = decision.groupSize ?? 32;
    if (!isBlockSize(size)) return { ok: false, reason: `group size ${size} is not a power of two from 16 to 256` };
    return { ok: true, op: 'GatherBlockQuantized', blockSize: Math.min(size, columnBlockSize(d)), parameters: 'groups' };
  }
  if (decision.granularity === 'channel') {
    if (decision.axis !== 0) return { ok: false, reason: `per channel along axis ${decision.axis}: GatherBlockQuantized has one scale per block of a row (axis 0)` };
    return { ok: true, op: 'GatherBlockQuantized', blockSize: columnBlockSize(d), parameters: 'rows' };
  }
  return { ok: true, op: 'GatherBlockQuantized', blockSize: columnBlockSize(d), parameters: 'tensor' };
}
