/**
 * One block of whole rows of a weight quantized per channel along axis 0, as a CPU worker runs it for
 * row-block-stream.ts. Each row has its own parameters, so a block's rows get exactly the bits of the whole
 * weight: the same scales, zero points and integers, and the same per-row error sums.
 *
 * Planning (`chain` given): the block is scanned for NaN / ±Infinity, its rows' parameters chosen and its rows
 * quantized as quantizeWeight does on the CPU, then its error statistics summed. The overall sums of a weight
 * run element by element in the reference's order (cpu-error-stats.ts), so blocks take turns there: block k
 * waits (Atomics on the shared `control`) until block k - 1 has added its elements to the shared `carry`, and
 * the weight's overall sums end as the whole weight's, to the bit. A block that finds NaN or cannot be
 * quantized abandons the turns (`control[1]`), so no block waits for it.
 *
 * Writing (`params` given): the rows are quantized again with the parameters planning chose.
 *
 * The block's bytes (float32, float16 or bfloat16, as stored) usually lie on a SharedArrayBuffer the calling
 * thread read them into: nothing is copied to the worker. They are put once into the CPU kernels' memory,
 * where every pass reads them.
 *
 * @example
 * ```ts
 * const done = await runRowBlock({ bytes, dtype: 'float32', shape: [256, 4096], decision, chain: { control, carry, index: 0 }, keep: false });
 * if (done.kind === 'planned') done.scales; // one per row
 * ```
 * @module
 */
import { dtypeInfo } from '../dtype.js';
import { InvalidArgumentError } from '../errors.js';
import { float32View } from '../io/float-convert.js';
import type { WeightDType } from '../io/weights.js';
import { cpuErrorSums } from '../kernels/cpu/cpu-error-stats.js';
import { cpuQuantize } from '../kernels/cpu/cpu-quantize.js';
import { scanFinite } from '../kernels/cpu/cpu-scan.js';
import { chooseQParams } from '../ops/choose-qparams.js';
import { quantizePerChannel } from '../ops/quantize.js';
import { checkQParams } from '../qtensor.js';
import { quantizedDataBytes } from '../io/safetensors/quantized-layout.js';
import { checkErrorStatsArguments } from '../stats/arguments.js';
import type { WeightDecision } from './policy.js';
import { type QuantizeWeightOptions, calibrationGranularity, calibrationSpecOf } from './quantize-weight.js';
import { storedScales } from './stored-scales.js';
import { searchedParamsInto } from './search-params.js';
import { holdWeight } from './weight-buffers.js';
import { type ParamsInto, signedExtremeParams } from './weight-range.js';

const cpu = { backend: 'cpu' } as const;

/** The turns of one weight's blocks: `control[0]` the block whose turn it is, `control[1]` 1 once abandoned; `carry` the overall sums so far. */
export interface RowBlockChain { control: Int32Array; carry: Float64Array; index: number }

/** The arguments of a row block. */
export interface RowBlockArgs {
  /** The block's bytes as stored. */
  bytes: Uint8Array;
  dtype: WeightDType;
  /** The block's shape: its rows, then the weight's other dimensions. */
  shape: number[];
  /** A decision per channel along axis 0. */
  decision: WeightDecision;
  /** Planning: the weight's turns. */
  chain?: RowBlockChain;
  /** Writing: the rows' parameters from planning. */
  params?: { scales: Float32Array; zeroPoints: Int32Array };
  /** Whether to return the integers (as the layout stores them) when planning. */
  keep: boolean;
}

/** What a row block gives back: the integers and, when planning, the rows' parameters and error sums. */
export type RowBlockResult =
  | { kind: 'nonFinite' | 'unquantizable' | 'abandoned' }
  | {
    kind: 'planned'; scales: Float32Array; zeroPoints: Int32Array;
    /** max |x| of the block. */
    peak: number;
    /** Per row: Σe², Σx², Σx̂², Σx·x̂, max |e|, clipped, nonFinite, each `rows` long, one after the other. */
    rowSums: Float64Array;
    data?: Uint8Array;
  }
  | { kind: 'written'; data: Uint8Array };

/** Lets no block wait for this weight's turns any more. */
export function abandonTurns(control: Int32Array): void {
  Atomics.store(control, 1, 1);
  Atomics.notify(control, 0);
}

/** Waits for block `index`'s turn; false when the turns were abandoned. */
function awaitTurn({ control, index }: RowBlockChain): boolean {
  for (;;) {
    if (Atomics.load(control, 1) !== 0) return false;
    const turn = Atomics.load(control, 0);
    if (turn === index) return true;
    Atomics.wait(control, 0, turn, 1000);
  }
}

/** The block's values as float32, in the kernels' memory where they can be held. */
function blockValues(args: RowBlockArgs): { data: Float32Array; release(): void } {
  const count = args.shape.reduce((a, b) => a * b, 1);
  const slot = holdWeight(args.shape, args.decision);
  if (!slot) return { data: float32View(args.bytes, args.dtype, 'row block'), release: () => undefined };
  if (args.dtype === 'float32') new Uint8Array(slot.data.buffer, slot.data.byteOffset, 4 * count).set(args.bytes);
  else float32View(args.bytes, args.dtype, 'row block', () => slot.data);
  return slot;
}

/**
 * A block's stored parameters, as quantizeWeight chooses them on the CPU (scales rounded by `options.roundScale`),
 * or undefined when they cannot be. With `into` (arrays of the block's parameter count), the 'extreme' rule and
 * the 'mse', 'lsq' and 'percentile' rules (search-params.ts) write them there and make no arrays of their own;
 * the other rules make their own.
 *
 * @example
 * ```ts
 * await rowParams({ data: rows, shape: [64, 1024] }, decision); // { scales, zeroPoints }, one per row per channel along axis 0
 * ```
 */
export async function rowParams(
  x: { data: Float32Array; shape: number[] }, decision: WeightDecision, options: Pick<QuantizeWeightOptions, 'roundScale'> = {},
  into?: ParamsInto,
): Promise<{ scales: Float32Array; zeroPoints: Int32Array } | undefined> {
  let raw: Float32Array;
  let zeroPoints: Int32Array;
  if (decision.range === 'extreme' && decision.symmetric && decision.method === 'minmax') {
    ({ scales: raw, zeroPoints } = signedExtremeParams(x.data, x.shape, calibrationGranularity(decision), decision.dtype, into));
  } else {
    try {
      const searched = into && searchedParamsInto(x, decision, into);
      const calibration = searched ?? await chooseQParams(x, calibrationSpecOf(decision), cpu);
      if (!('scales' in calibration)) return undefined;
      ({ scales: raw, zeroPoints } = calibration);
    } catch (error) {
      if (error instanceof InvalidArgumentError && error.argument.startsWith('x')) return undefined;
      throw error;
    }
  }
  const scales = storedScales(raw, zeroPoints, decision, options, raw === into?.scales ? raw : undefined);
  return scales instanceof Float32Array ? { scales, zeroPoints } : undefined;
}

let ints = new ArrayBuffer(0);

/** Scratch for a block's integers, reused by the next block (this worker runs one task at a time). */
function reusedInts(count: number): ArrayBuffer {
  if (ints.byteLength < count) ints = new ArrayBuffer(count);
  return ints;
}

/** The integers as their own buffer, so they can be transferred. */
function own(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer ? bytes : bytes.slice();
}

/**
 * Runs one row block (see the module documentation).
 *
 * @example
 * ```ts
 * const { data } = await runRowBlock({ bytes, dtype: 'float16', shape: [64, 1024], decision, params: { scales, zeroPoints }, keep: true }) as { data: Uint8Array };
 * ```
 */
export async function runRowBlock(args: RowBlockArgs): Promise<RowBlockResult> {
  const { chain, decision } = args;
  const values = blockValues(args);
  try {
    const x = { data: values.data, shape: args.shape };
    if (args.params) {
      const q = await quantizePerChannel(x, args.params.scales, args.params.zeroPoints, 0, decision.dtype, cpu);
      return { kind: 'written', data: own(quantizedDataBytes(q)) };
    }
    if (!chain) throw new InvalidArgumentError('args', args, 'a row block needs the turns of its weight (planning) or its rows\' parameters (writing)');
    const { firstNonFinite, maxAbs: peak } = scanFinite(x.data);
    const params = firstNonFinite >= 0 ? undefined : await rowParams(x, decision);
    if (!params) {
      abandonTurns(chain.control);
      return { kind: firstNonFinite >= 0 ? 'nonFinite' : 'unquantizable' };
    }
    // Integers only the statistics read go to memory reused from block to block (fresh pages cost more than the work).
    const q = args.keep ? await quantizePerChannel(x, params.scales, params.zeroPoints, 0, decision.dtype, cpu)
      : cpuQuantize(x, checkQParams(x.shape, decision.dtype, { ...params, axis: 0 }), dtypeInfo(decision.dtype), reusedInts(x.data.length));
    const request = checkErrorStatsArguments(x, q, { axis: 0 }, () => -1); // scanned above
    if (!awaitTurn(chain)) return { kind: 'abandoned' };
    const rows = args.shape[0]!;
    const { perChannel } = cpuErrorSums(request, chain.carry);
    Atomics.store(chain.control, 0, chain.index + 1);
    Atomics.notify(chain.control, 0);
    const s = perChannel!;
    const rowSums = new Float64Array(7 * rows);
    [s.sumSquaredError, s.sumSquaredOriginal, s.sumSquaredDequantized, s.sumProduct, s.maxAbsError, s.clipped, s.nonFinite]
      .forEach((sums, k) => rowSums.set(sums, k * rows));
    return { kind: 'planned', ...params, peak, rowSums, ...(args.keep ? { data: own(quantizedDataBytes(q)) } : {}) };
  } catch (error) {
    if (chain) abandonTurns(chain.control);
    throw error;
  } finally {
    values.release();
  }
}
