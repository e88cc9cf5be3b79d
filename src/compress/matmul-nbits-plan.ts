/**
 * Which quantized weights `onnxOps: 'contrib'` writes as onnxruntime's `com.microsoft.MatMulNBits`
 * (io/onnx/matmul-nbits-writer.ts), and with what block size. A weight qualifies when:
 *
 * - it is 2-D ([K, N]), float32 or float16 (MatMulNBits takes its scales in A's type; bfloat16 and float64
 *   models stay QDQ);
 * - every consumer is a default-domain `MatMul` reading it as input B;
 * - its scheme maps onto blocks along K: groups along axis 0 of a power-of-two size from 16 to 256 (the
 *   block size, or the next power of two ≥ K when that is smaller; a K that is not a multiple of it gets a
 *   padded last block, as onnxruntime pads), per
 *   channel along axis 1 (N), or per tensor. Per channel and per tensor use blocks of the next power of
 *   two ≥ K, at most 256, repeating the column's scale, so the values are those of the QDQ form.
 *
 * Anything else (a group size of 48 or 512, groups along N, a Gemm or Conv consumer) is written as QDQ,
 * and the report gives the reason. The escalations of the quality floor (8-bit per channel along the
 * output axis, per tensor) always qualify when the planned scheme did.
 *
 * @example
 * ```ts
 * matMulNBitsLayout(decision, model.info('fc1.weight')); // { ok: true, blockSize: 32, parameters: 'groups' }
 * matMulNBitsLayout({ ...decision, groupSize: 48 }, info); // { ok: false, reason: 'group size 48 is not a power of two from 16 to 256' }
 * ```
 * @module
 */
import type { WeightInfo } from '../io/weights.js';
import type { OnnxConsumer } from '../io/onnx/onnx-types.js';
import type { WeightDecision } from './policy.js';

/** How ONNX operators carry quantized weights: QDQ everywhere, or onnxruntime's contrib operators where they fit. */
export type OnnxOps = 'qdq' | 'contrib';

/** A weight's MatMulNBits form, or why it has none. */
export type MatMulNBitsLayout =
  | { ok: true; blockSize: number; parameters: 'groups' | 'columns' | 'tensor' }
  | { ok: false; reason: string };

const kMinBlock = 16;
const kMaxBlock = 256;

const isBlockSize = (n: number) => Number.isInteger(n) && n >= kMinBlock && n <= kMaxBlock && (n & (n - 1)) === 0;

/**
 * The block size for one block per column of `k` rows: the next power of two ≥ k, within 16..256.
 *
 * @example
 * ```ts
 * columnBlockSize(100);  // 128
 * columnBlockSize(4096); // 256
 * ```
 */
export function columnBlockSize(k: number): number {
  let size = kMinBlock;
  while (size < k && size < kMaxBlock) size *= 2;
  return size;
}

/**
 * The MatMulNBits form of a quantized weight (module documentation).
 *
 * @example
 * ```ts
 * matMulNBitsLayout({ granularity: 'channel', axis: 1 } as WeightDecision, { shape: [4096, 1024], dtype: 'float32', consumers });
 * // { ok: true, blockSize: 256, parameters: 'columns' }
 * ```
 */
export function matMulNBitsLayout(
  decision: Pick<WeightDecision, 'granularity' | 'axis' | 'groupSize'>,
  weight: Pick<WeightInfo, 'shape' | 'dtype'> & { consumers: readonly Pick<OnnxConsumer, 'opType' | 'domain' | 'inputIndex'>[] },
): MatMulNBitsLayout {
  const { shape, dtype, consumers } = weight;
  if (shape.length !== 2) return { ok: false, reason: `rank ${shape.length}: MatMulNBits takes 2-D weights` };
  if (dtype !== 'float32' && dtype !== 'float16') return { ok: false, reason: `${dtype} weight: MatMulNBits takes float32 or float16` };
  const other = consumers.find((c) => c.opType !== 'MatMul' || c.domain !== '' || c.inputIndex !== 1);
  if (consumers.length === 0 || other) {
    return { ok: false, reason: `read by ${other ? `${other.opType} input ${other.inputIndex}` : 'no node'}, not only as MatMul input B` };
  }
  const k = shape[0]!;
  if (decision.granularity === 'group') {
    if (decision.axis !== 0) return { ok: false, reason: `groups along axis ${decision.axis}: MatMulNBits blocks run along K (axis 0)` };
    const size = decision.groupSize ?? 32;
    if (!isBlockSize(size)) return { ok: false, reason: `group size ${size} is not a power of two from ${kMinBlock} to ${kMaxBlock}` };
    // A group longer than K is one group per column: the smallest block that holds K keeps the padding small.
    return { ok: true, blockSize: Math.min(size, columnBlockSize(k)), parameters: 'groups' };
  }
  if (decision.granularity === 'channel') {
    if (decision.axis !== 1) return { ok: false, reason: `per channel along axis ${decision.axis}: MatMulNBits has one scale per block of a column (axis 1)` };
    return { ok: true, blockSize: columnBlockSize(k), parameters: 'columns' };
  }
  return { ok: true, blockSize: columnBlockSize(k), parameters: 'tensor' };
}

/**
 * A short note for the report on how a MatMulNBits weight's blocks were written (padding included).
 *
 * @example
 * ```ts
 * nbitsNote({ ok: true, blockSize: 32, parameters: 'groups' }, 100); // 'MatMulNBits, block_size 32, last block padded (K 100)'
 * ```
 */
export function nbitsNote(layout: Extract<MatMulNBitsLayout, { ok: true }>, k: number): string {
  const repeat = layout.parameters === 'columns' ? ', each column\'s scale repeated per block'
    : layout.parameters === 'tensor' ? ', the tensor\'s scale repeated per block' : '';
  const pad = k % layout.blockSize !== 0 ? `, last block padded (K ${k} is not a multiple of ${layout.blockSize})` : '';
  return `MatMulNBits, block_size ${layout.blockSize}${repeat}${pad}`;
}
