/**
 * The quantization grid of a QTensor in the one form error statistics need, whatever its scheme: a parameter
 * table (float32 scale, its float32 reciprocal, zero point) and the element-to-parameter {@link IndexMap}.
 * Per-tensor, per-channel and per-group parameters all reduce to it, so the reference and the kernel need no case per scheme. Also defines the
 * dequantized value x̂ and the clipping test used by both.
 *
 * @example
 * ```ts
 * const q = fromIntRepr([-3, 0, 3, 6], [4], 'qint8', { scale: 0.5, zeroPoint: 0 });
 * const grid = quantGrid(q);
 * dequantizedValue(grid, 0, 6);   // 3
 * isClipped(grid, 0, 100);        // true: 100 / 0.5 = 200 > 127
 * ```
 * @module
 */
import { dtypeInfo } from '../dtype.js';
import type { QTensor } from '../qtensor.js';
import { roundHalfEven } from '../round.js';
import { MAX_SCALE, MIN_SCALE, checkScale, knownLargestScale, knownSmallestScale } from '../validate.js';
import { type IndexMap, channelIndexMap, groupIndexMap, tensorIndexMap } from './index-map.js';

/** See the module documentation. Tables have one entry per parameter; they may be shared: do not modify them. */
export interface QuantGrid {
  readonly map: IndexMap;
  /** fround(scale). */
  readonly scales: Float32Array;
  /** fround(1 / fround(scale)), what quantize multiplies by. */
  readonly inverseScales: Float32Array;
  readonly zeroPoints: Int32Array;
  /** Per tensor, x̂ = fround(int32(q − zp)) · scale (wrapping int32 subtraction); else fround(fround(q) − fround(zp)) · scale. */
  readonly integerSubtract: boolean;
  readonly qmin: number;
  readonly qmax: number;
}

/** A grid's parameter table: float32 scales, their float32 reciprocals and the zero points, one entry per parameter. */
export type GridTable = Pick<QuantGrid, 'scales' | 'inverseScales' | 'zeroPoints'>;

/**
 * The tables already made for parameters marked with {@link keepGridTable}, per QParams object (validated
 * parameters never change), held no longer than the parameters.
 */
const tables = new WeakMap<object, GridTable | undefined>();

/**
 * Marks `params` (a QTensor's validated parameters, shared by many tensors) so that {@link quantGrid} makes its
 * tables once and hands them out again; other parameters get fresh tables each time, so no tensor holds them longer.
 *
 * @example
 * ```ts
 * keepGridTable(placeholder); // compression plans every weight of one shape with the same placeholder
 * ```
 */
export function keepGridTable(params: object): void {
  if (!tables.has(params)) tables.set(params, undefined);
}

/**
 * Has {@link quantGrid} hand out `table` for `params` instead of making one: the caller filled it for the same
 * parameters with {@link fillGridTable} (views of one weight's table, say, for a weight quantized a block of rows
 * at a time, so that no block makes a table of its own).
 *
 * @example
 * ```ts
 * const whole = { scales: new Float32Array(n), inverseScales: new Float32Array(n), zeroPoints: new Int32Array(n) };
 * fillGridTable(blockScales, blockZeroPoints, whole, at);
 * shareGridTable(blockParams, { scales: whole.scales.subarray(at, at + m), inverseScales: whole.inverseScales.subarray(at, at + m), zeroPoints: whole.zeroPoints.subarray(at, at + m) });
 * ```
 */
export function shareGridTable(params: object, table: GridTable): void {
  tables.set(params, table);
}

/**
 * Writes the table entries of `scales` and `zeroPoints` (parameters a QTensor would accept) into `into` from
 * entry `at`, as {@link quantGrid} makes them. Throws InvalidArgumentError for a scale a QTensor would refuse.
 *
 * @example
 * ```ts
 * const into = { scales: new Float32Array(2), inverseScales: new Float32Array(2), zeroPoints: new Int32Array(2) };
 * fillGridTable([0.5, 0.25], [0, 1], into); // into.inverseScales: [2, 4]
 * ```
 */
export function fillGridTable(scales: ArrayLike<number>, zeroPoints: ArrayLike<number>, into: { scales: Float32Array; inverseScales: Float32Array; zeroPoints: Int32Array }, at = 0): void {
  fillTable(scales, zeroPoints, into, at);
}

/** What a table's filling found: see {@link smallParameters} and {@link largestScale}. */
interface TableFacts { small: boolean; largestScale: number }

/**
 * {@link fillGridTable}, returning what it found of the parameters in the same pass (typed arrays; else undefined):
 * whether every zero point is within ±2^22 and every inverse scale at most 2^125 (the parameters' half of
 * `smallRangeClip`, kernels/error-stats/error-stats-shader.ts), and the largest scale.
 */
function fillTable(scales: ArrayLike<number>, zeroPoints: ArrayLike<number>, into: GridTable, at: number): TableFacts | undefined {
  if ((scales instanceof Float64Array || scales instanceof Float32Array) && zeroPoints instanceof Int32Array) {
    // Typed arrays (every QTensor's): checkScale's bounds without a branch per scale (a weight in groups of 32 has
    // 524,288), and the loop below only where one fails, to throw its error.
    const { scales: scales32, inverseScales, zeroPoints: zeroPoints32 } = into;
    let valid = 1;
    let small = 1;
    let largest = 0;
    for (let p = 0; p < scales.length; p++) {
      const scale32 = Math.fround(scales[p]!);
      const inverse = Math.fround(1 / scale32);
      const zeroPoint = zeroPoints[p]!;
      valid &= +(scale32 >= MIN_SCALE) & +(scale32 <= MAX_SCALE);
      small &= +(inverse <= 2 ** 125) & +(zeroPoint <= 2 ** 22) & +(zeroPoint >= -(2 ** 22));
      if (scale32 > largest) largest = scale32;
      inverseScales[at + p] = inverse;
      scales32[at + p] = scales[p]!;
    }
    zeroPoints32.set(zeroPoints, at);
    if (valid) return { small: small === 1, largestScale: largest };
  }
  for (let p = 0; p < scales.length; p++) {
    into.inverseScales[at + p] = checkScale(scales[p]!);
    into.scales[at + p] = scales[p]!;
    into.zeroPoints[at + p] = zeroPoints[p]!;
  }
  return undefined;
}

/**
 * What was found of the parameters of tables made here as they were filled; keyed by the table's inverse scales
 * (made here, never handed to anything that writes them), with its scales and zero points to match.
 */
const facts = new WeakMap<Float32Array, TableFacts & GridTable>();

/**
 * The facts of grids whose table is made only when first read ({@link quantGrid} for parameters checkChannelParams
 * validated), keyed by the grid: known from that check, without the table.
 */
const lazyFacts = new WeakMap<object, TableFacts>();

/** The facts of `grid`'s table when it is one made here, or a grid made here whose table waits to be read. */
function factsOf(grid: GridTable): TableFacts | undefined {
  const lazy = lazyFacts.get(grid); // before touching the arrays: reading them would make the table
  if (lazy) return lazy;
  const known = facts.get(grid.inverseScales);
  return known && known.zeroPoints === grid.zeroPoints && known.scales === grid.scales ? known : undefined;
}

/**
 * Whether every zero point of `grid` is within ±2^22 and every inverse scale at most 2^125: known without a pass
 * for the tables {@link quantGrid} makes, else found by one.
 *
 * @example
 * ```ts
 * smallParameters(quantGrid(q)); // true for ordinary scales and zero points
 * ```
 */
export function smallParameters(grid: GridTable): boolean {
  const known = factsOf(grid);
  if (known) return known.small;
  const { zeroPoints, inverseScales } = grid; // indexed loops, as in largestInverseScale (plan-elementwise.ts)
  for (let i = 0; i < zeroPoints.length; i++) if (Math.abs(zeroPoints[i]!) > 2 ** 22) return false;
  for (let i = 0; i < inverseScales.length; i++) if (!(inverseScales[i]! <= 2 ** 125)) return false;
  return true;
}

/**
 * The largest scale of `grid` (0 for none): known without a pass for the tables {@link quantGrid} makes, else
 * found by one.
 *
 * @example
 * ```ts
 * largestScale(quantGrid(q)); // what prescaleFor bounds |x̂| with
 * ```
 */
export function largestScale(grid: GridTable): number {
  const known = factsOf(grid);
  if (known) return known.largestScale;
  const scales = grid.scales; // an indexed loop, as in largestInverseScale (plan-elementwise.ts)
  let largest = 0;
  for (let i = 0; i < scales.length; i++) if (scales[i]! > largest) largest = scales[i]!;
  return largest;
}

function tableOf(params: { scales: Float64Array; zeroPoints: Int32Array }): GridTable {
  if (!tables.has(params)) return table(params.scales, params.zeroPoints);
  let made = tables.get(params);
  if (!made) tables.set(params, made = table(params.scales, params.zeroPoints));
  return made;
}

function table(scales: ArrayLike<number>, zeroPoints: ArrayLike<number>): GridTable {
  const n = scales.length;
  const out = { scales: new Float32Array(n), inverseScales: new Float32Array(n), zeroPoints: new Int32Array(n) };
  const found = fillTable(scales, zeroPoints, out, 0); // already validated by the QTensor: never throws here
  if (found) facts.set(out.inverseScales, { ...found, ...out });
  return out;
}

/**
 * The facts of per-channel or per-group parameters from their check (validate.ts knownSmallestScale and
 * knownLargestScale), when the check recorded them and every zero point of the dtype is within ±2^22; else undefined.
 */
function checkedFacts(params: { scales: Float64Array }, qmin: number, qmax: number): TableFacts | undefined {
  const smallest = knownSmallestScale(params.scales);
  const largest = knownLargestScale(params.scales);
  if (smallest === undefined || largest === undefined || Math.max(Math.abs(qmin), Math.abs(qmax)) > 2 ** 22) return undefined;
  // The inverse never grows with the scale, and fround keeps order: the extremes' float32 values bound every entry's.
  return { small: params.scales.length === 0 || Math.fround(1 / Math.fround(smallest)) <= 2 ** 125, largestScale: Math.fround(largest) };
}

/**
 * `base` with the table of `params` made on first read of `scales`, `inverseScales` or `zeroPoints` (then plain
 * properties holding it), and `known` as its facts meanwhile: statistics computed on the device read only the facts
 * (prescale, clipping test), and a weight in groups of 32 need not make 524,288 reciprocals and three arrays.
 */
function lazyGrid(params: { scales: Float64Array; zeroPoints: Int32Array }, base: Omit<QuantGrid, keyof GridTable>, known: TableFacts): QuantGrid {
  const grid = { ...base } as QuantGrid;
  const keys = ['scales', 'inverseScales', 'zeroPoints'] as const;
  const make = (): GridTable => {
    const made = table(params.scales, params.zeroPoints);
    for (const key of keys) Object.defineProperty(grid, key, { value: made[key], enumerable: true, writable: true, configurable: true });
    return made;
  };
  for (const key of keys) Object.defineProperty(grid, key, { get: () => make()[key], enumerable: true, configurable: true });
  lazyFacts.set(grid, known);
  return grid;
}

/**
 * The grid of `q` (its parameters, already validated when `q` was built). Per channel and per group, the table of
 * parameters checkChannelParams validated is made when first read (its facts are known from the check).
 *
 * @example
 * ```ts
 * quantGrid(qc).map;   // per channel on axis 0 of [5, 4]: { count: 5, inner: 4, axisLen: 5, ... }
 * ```
 */
export function quantGrid(q: QTensor): QuantGrid {
  const { qmin, qmax } = dtypeInfo(q.dtype);
  const params = q.params;
  switch (params.scheme) {
    case 'per_tensor_affine':
      return { map: tensorIndexMap(), ...table([params.scale], [params.zeroPoint]), integerSubtract: true, qmin, qmax };
    case 'per_channel_affine':
    case 'per_group_affine': {
      const map = params.scheme === 'per_channel_affine' ? channelIndexMap(q.shape, params.axis) : groupIndexMap(q.shape, params.axis, params.groupSize);
      const known = tables.has(params) ? undefined : checkedFacts(params, qmin, qmax);
      return known ? lazyGrid(params, { map, integerSubtract: false, qmin, qmax }, known)
        : { map, ...tableOf(params), integerSubtract: false, qmin, qmax };
    }
    default:
      throw new Error(`errorStats: unknown qscheme ${String((params as { scheme: unknown }).scheme)}`);
  }
}

/**
 * x̂ for stored integer `q` with parameter `p`, in float32 steps: the GPU dequantize contract. Per tensor
 * `fround(fround(int32(q − zp)) · fround(scale))`; otherwise `fround(fround(fround(q) − fround(zp)) · fround(scale))`.
 * Equal to `dequantize()` whenever the scales are float32 values (always so for observer scales).
 *
 * @example
 * ```ts
 * dequantizedValue(grid, 0, -3); // -1.5 for scale 0.5, zero point 0
 * ```
 */
export function dequantizedValue(grid: QuantGrid, p: number, q: number): number {
  const scale = grid.scales[p]!;
  const zeroPoint = grid.zeroPoints[p]!;
  const difference = grid.integerSubtract ? Math.fround((q - zeroPoint) | 0) : Math.fround(Math.fround(q) - Math.fround(zeroPoint));
  return Math.fround(difference * scale);
}

/**
 * True when quantizing `x` with parameter `p` saturates: the pre-clamp value
 * `fround(fround(zp) + roundHalfEven(fround(x · inverseScale)))` lies outside [qmin, qmax]. ±Infinity is
 * clipped; NaN (rejected earlier by errorStats) is not.
 *
 * @example
 * ```ts
 * isClipped(grid, 0, 63.7);  // false for scale 0.5, qint8: 127.4 rounds to 127
 * isClipped(grid, 0, 63.8);  // true: 127.6 rounds to 128
 * ```
 */
export function isClipped(grid: QuantGrid, p: number, x: number): boolean {
  const preClamp = Math.fround(Math.fround(grid.zeroPoints[p]!) + roundHalfEven(Math.fround(x * grid.inverseScales[p]!)));
  return preClamp < grid.qmin || preClamp > grid.qmax;
}
