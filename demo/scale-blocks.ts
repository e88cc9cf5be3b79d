// Which scale and zero point each weight of one channel uses: the "blocks" of a quantized tensor (the whole
// tensor, one channel along the quantization axis, or one group). A channel of the chart (an index along the
// report's statistics axis) can hold several blocks: the groups of a row, or every channel of a different
// quantization axis. The histogram shows one block at a time, with its own grid. Pure index arithmetic.
import type { QTensor } from '../src/index.js';

/** Strides of a row-major shape. */
export function strides(shape: readonly number[]): number[] {
  const out = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) out[i] = out[i + 1]! * shape[i + 1]!;
  return out;
}

/** The elements with index `channel` along `axis`, in row-major order. */
export function channelSlice(data: Float32Array, shape: readonly number[], axis: number, channel: number): Float32Array {
  const inner = strides(shape)[axis]!;
  const dim = shape[axis]!;
  const outer = data.length / (dim * inner);
  const out = new Float32Array(outer * inner);
  for (let o = 0; o < outer; o++) out.set(data.subarray((o * dim + channel) * inner, (o * dim + channel + 1) * inner), o * inner);
  return out;
}

/** One block of a channel: where its parameters are, and its elements along the quantization axis. */
export interface Block { scale: number; zeroPoint: number; paramIndex: number; axis?: number; from?: number; to?: number }

export interface ChannelBlocks {
  /** In the order their first element appears in the channel. */
  blocks: Block[];
  /** For each element of `channelSlice(…, axis, channel)`: the index into `blocks`. */
  blockOf: Int32Array;
  /** 'group', 'channel' (a different quantization axis) or 'tensor'. */
  kind: 'tensor' | 'channel' | 'group';
}

/**
 * The blocks of `channel` along `axis` and the block of each of its elements.
 *
 * @example
 * ```ts
 * // int4 per group of 32 along axis 1 of a [64, 128] weight: row 5 holds 4 groups.
 * channelBlocks(q, 0, 5).blocks.length; // 4
 * ```
 */
export function channelBlocks(q: QTensor, axis: number, channel: number): ChannelBlocks {
  const shape = q.shape;
  const scheme = q.qscheme();
  const inner = strides(shape)[axis] ?? 1;
  const dim = shape[axis] ?? 1;
  const size = shape.reduce((a, b) => a * b, 1);
  const outer = size / (dim * inner);
  const blockOf = new Int32Array(outer * inner);
  if (scheme === 'per_tensor_affine') {
    return { blocks: [{ scale: q.qScale(), zeroPoint: q.qZeroPoint(), paramIndex: 0 }], blockOf, kind: 'tensor' };
  }
  const qAxis = q.qPerChannelAxis();
  const groupSize = scheme === 'per_group_affine' ? q.qGroupSize() : 1;
  const paramShape = scheme === 'per_group_affine' ? shape.map((d, i) => (i === qAxis ? Math.ceil(d / groupSize) : d)) : [shape[qAxis]!];
  const paramStrides = strides(paramShape);
  const elementStrides = strides(shape);
  const scales = scheme === 'per_group_affine' ? q.qPerGroupScales() : q.qPerChannelScales();
  const zeroPoints = scheme === 'per_group_affine' ? q.qPerGroupZeroPoints() : q.qPerChannelZeroPoints();
  const found = new Map<number, number>();
  const blocks: Block[] = [];
  let k = 0;
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++, k++) {
      let flat = (o * dim + channel) * inner + j;
      let paramIndex = 0;
      let along = 0;
      for (let a = 0; a < shape.length; a++) {
        const coord = Math.floor(flat / elementStrides[a]!);
        flat -= coord * elementStrides[a]!;
        if (a === qAxis) along = coord;
        if (scheme === 'per_group_affine') paramIndex += (a === qAxis ? Math.floor(coord / groupSize) : coord) * paramStrides[a]!;
        else if (a === qAxis) paramIndex = coord;
      }
      let b = found.get(paramIndex);
      if (b === undefined) {
        b = blocks.length;
        found.set(paramIndex, b);
        const from = along - (along % groupSize);
        blocks.push({ scale: scales[paramIndex]!, zeroPoint: zeroPoints[paramIndex]!, paramIndex, axis: qAxis, from, to: Math.min(from + groupSize, shape[qAxis]!) - 1 });
      }
      blockOf[k] = b;
    }
  }
  return { blocks, blockOf, kind: scheme === 'per_group_affine' ? 'group' : 'channel' };
}
