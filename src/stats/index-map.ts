/**
 * Element-to-index maps around an axis: which statistics bucket (channel, group) or which quantization
 * parameter an element of a row-major tensor belongs to. One formula covers per-tensor, per-channel and
 * per-group (ONNX opset-21 blocks): with the tensor viewed as `[outer, axisLen, inner]` and element `i`
 * at `(o, a, k)`,
 *
 * ```
 * index(i) = o * strideOuter + floor(a / groupSize) * strideGroup + k * strideInner
 * ```
 *
 * per tensor: every stride 0; per channel: `index = a`; per group: `(o * G + floor(a / groupSize)) * inner + k`
 * with `G = ceil(axisLen / groupSize)`. The CPU reference, the GPU host code and the shader
 * (`shaders/error-stats/error_stats.wgsl`, `param_index`) all use it.
 *
 * @example
 * ```ts
 * const map = groupIndexMap([2, 5, 3], 1, 2);   // G = 3 groups of 2 along axis 1 (the last one short)
 * indexOf(map, 0);   // 0: (o 0, a 0, k 0) is group 0 of row 0, k 0
 * indexOf(map, 14);  // 8: (o 0, a 4, k 2) -> (0 * 3 + 2) * 3 + 2
 * map.count;       // 18 = 2 rows * 3 groups * 3
 * ```
 * @module
 */
import { channelLayout } from '../layout.js';

/** The `[outer, axisLen, inner]` view and strides of one element-to-index map. See the module documentation. */
export interface IndexMap {
  /** How many distinct indices there are (1 per tensor, axisLen per channel, outer * G * inner per group). */
  readonly count: number;
  readonly inner: number;
  readonly axisLen: number;
  readonly groupSize: number;
  readonly strideOuter: number;
  readonly strideGroup: number;
  readonly strideInner: number;
}

/**
 * The map that sends every element to index 0 (per-tensor parameters, overall statistics).
 *
 * @example
 * ```ts
 * indexOf(tensorIndexMap(), 123); // 0
 * ```
 */
export function tensorIndexMap(): IndexMap {
  return { count: 1, inner: 1, axisLen: 1, groupSize: 1, strideOuter: 0, strideGroup: 0, strideInner: 0 };
}

/**
 * One index per position along `axis` (non-negative, already checked).
 *
 * @example
 * ```ts
 * indexOf(channelIndexMap([2, 3, 4], 1), 13); // 0: element 13 is (o 1, a 0, k 1)
 * ```
 */
export function channelIndexMap(shape: readonly number[], axis: number): IndexMap {
  const { inner, channels } = channelLayout(shape, axis);
  return { count: channels, inner, axisLen: channels, groupSize: 1, strideOuter: 0, strideGroup: 1, strideInner: 0 };
}

/**
 * One index per block of `groupSize` positions along `axis`, per outer and inner position (ONNX
 * QuantizeLinear opset 21 `block_size`); the last block along the axis may be short.
 *
 * @example
 * ```ts
 * indexOf(groupIndexMap([4, 8], 1, 3), 8 + 7); // (1 * 3 + 2) * 1 + 0 = 5
 * ```
 */
export function groupIndexMap(shape: readonly number[], axis: number, groupSize: number): IndexMap {
  const { outer, inner, channels } = channelLayout(shape, axis);
  const groups = Math.ceil(channels / groupSize);
  return {
    count: outer * groups * inner, inner, axisLen: channels, groupSize,
    strideOuter: groups * inner, strideGroup: inner, strideInner: 1,
  };
}

/**
 * The index of element `i` of a non-empty tensor. See the module documentation for the formula.
 *
 * @example
 * ```ts
 * indexOf(channelIndexMap([5, 4], 1), 6); // 2
 * ```
 */
export function indexOf(map: IndexMap, i: number): number {
  const k = i % map.inner;
  const row = Math.floor(i / map.inner);
  const a = row % map.axisLen;
  const o = Math.floor(row / map.axisLen);
  return o * map.strideOuter + Math.floor(a / map.groupSize) * map.strideGroup + k * map.strideInner;
}

/**
 * A window `[lo, hi)` that holds the index of every element in `[start, end)` (non-empty): what a chunk of
 * the tensor needs of a parameter table. Tight within one outer row; across outer rows it widens to whole
 * rows (per channel: the whole table).
 *
 * @example
 * ```ts
 * indexWindow(groupIndexMap([4, 8], 1, 2), 9, 12); // [4, 6): row 1, groups 0..1
 * ```
 */
export function indexWindow(map: IndexMap, start: number, end: number): [number, number] {
  if (map.strideOuter === 0 && map.strideGroup === 0 && map.strideInner === 0) return [0, 1];
  const rowSize = map.axisLen * map.inner;
  const firstOuter = Math.floor(start / rowSize);
  const lastOuter = Math.floor((end - 1) / rowSize);
  const lastGroup = Math.ceil(map.axisLen / map.groupSize) - 1;
  const innerSpan = (map.inner - 1) * map.strideInner + 1;
  if (firstOuter === lastOuter) {
    const firstGroup = Math.floor((Math.floor(start / map.inner) % map.axisLen) / map.groupSize);
    const endGroup = Math.floor((Math.floor((end - 1) / map.inner) % map.axisLen) / map.groupSize);
    const base = firstOuter * map.strideOuter;
    return [base + firstGroup * map.strideGroup, base + endGroup * map.strideGroup + innerSpan];
  }
  return [firstOuter * map.strideOuter, lastOuter * map.strideOuter + lastGroup * map.strideGroup + innerSpan];
}
