/**
 * How compressToSafetensors plans one weight: read (whole, or a block of rows at a time from its file), held to the
 * quality floor (quality-floor.ts), and answered with its final decision and quantized form, or kept with the
 * reason (NaN / ±Infinity, float64 values float32 cannot hold, the floor's verdict); on a CPU worker where a pool
 * is given.
 *
 * @example
 * ```ts
 * const planned = await planSafetensorsWeight(reader, info, decision, { backend: 'cpu' }, pool);
 * ```
 * @module
 */
import type { OpOptions } from '../ops/backend.js';
import { float32View, toFloat32 } from '../io/float-convert.js';
import { type WeightInfo, type WeightReader, floatFileRangeOf, isFileWeightDType, readWeightInto } from '../io/weights.js';
import type { CpuWorkerPool } from './cpu-worker-pool.js';
import { float64Loss } from './float64-range.js';
import type { WeightDecision } from './policy.js';
import { type EscalationStep, type FloorOutcome, quantizeWithFloor } from './quality-floor.js';
import { type QuantizedWeight, paramShapeOf } from './quantize-weight.js';
import { lentBuffers } from './lent-parameters.js';
import type { RowBlockPlan } from './row-block-stream.js';
import type { SpareIntegers } from './spare-integers.js';
import { FILE_BLOCK_BYTES, blockIntegerBytes, fileBlocking, fileIntegerBytes } from './file-blocking.js';
import { floorWeightInBlocks } from './weight-file-blocks.js';
import { integersBufferOf } from './weight-buffers.js';

/** A weight's plan for a safetensors output: its final decision and quantized form, or kept with the reason. */
export type PlannedSafetensorsWeight = { decision: WeightDecision; steps: EscalationStep[]; result: QuantizedWeight | RowBlockPlan } | { keep: string; steps: EscalationStep[] };

/** The reason a weight with NaN or ±Infinity is kept. */
export const NON_FINITE_KEPT = 'non-finite values: kept as they are';

/**
 * A weight's float32 values in a buffer of their own, which may be transferred to a worker: float32 read
 * straight into a fresh buffer where the reader can, else converted (which copies).
 *
 * @example
 * ```ts
 * const data = await ownFloat32(reader, info);
 * await pool.run('quantizeWeight', [{ data, shape: info.shape }, decision], [data.buffer]);
 * ```
 */
export async function ownFloat32(reader: WeightReader, info: WeightInfo): Promise<Float32Array> {
  if (info.dtype === 'float32' && info.byteLength % 4 === 0) {
    const bytes = await readWeightInto(reader, info, new Uint8Array(info.byteLength));
    return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4); // little-endian, as toFloat32 assumes
  }
  return toFloat32(await reader.read(info.name), info.dtype, info.name);
}

/**
 * On the calling thread (CPU path), a float32, float16 or bfloat16 weight of a reader that knows where it lies on
 * disk (floatFileRangeOf), read a block of rows at a time where that gives the whole weight's outcome (weight-file-blocks.ts, as a worker's planWeightFile):
 * undefined where it must be read whole (no file range, a layout read whole, NaN or ±Infinity, a weight the
 * quality floor escalates or keeps).
 */
async function planInBlocks(reader: WeightReader, info: WeightInfo, decision: WeightDecision, spares?: SpareIntegers): Promise<FloorOutcome | undefined> {
  const { dtype } = info;
  const blocking = isFileWeightDType(dtype) ? fileBlocking(info.shape, decision, FILE_BLOCK_BYTES) : undefined;
  const range = blocking && await floatFileRangeOf(reader, info);
  if (!range || !isFileWeightDType(dtype)) return undefined;
  // 4-bit integers packed two to a byte as each block is measured, as the file holds them.
  const bytes = blockIntegerBytes(decision, blocking!, true);
  const integers = spares?.take(bytes) ?? new ArrayBuffer(bytes);
  const outcome = await floorWeightInBlocks(range, info.shape, decision, { packNibbles: true, readAhead: true }, integers, blocking!, dtype);
  spares?.adopt(integers);
  if (outcome?.kind !== 'quantized') spares?.written(integers); // nothing holds it
  return outcome;
}

/**
 * The final plan of one weight (read once ahead, so the header never promises a tensor we cannot write):
 * the scheme after the quality floor, or keep with the reason. With a pool, the work runs on a worker (a float32,
 * float16 or bfloat16 weight in a file read there from the file, its integers into `spares`' memory, or a fresh
 * buffer of `freshBytes`: sharedIntegerBytes, file-blocking.ts); with
 * `blocksHere`, such a weight in a file is read here a block of rows at a time where its layout allows; else `early` (the weight's
 * bytes read ahead) or a read.
 *
 * @example
 * ```ts
 * const planned = await planSafetensorsWeight(reader, info, decision, { backend: 'cpu' });
 * 'keep' in planned ? planned.keep : planned.decision.dtype;
 * ```
 */
export async function planSafetensorsWeight(
  reader: WeightReader, info: WeightInfo, decision: WeightDecision, backend: OpOptions | undefined, pool?: CpuWorkerPool,
  early?: Promise<Uint8Array>, spares?: SpareIntegers, blocksHere = false, freshBytes?: number,
): Promise<PlannedSafetensorsWeight> {
  // A float weight in a file on disk is read by the worker itself, straight into its kernels' memory: no copy
  // here, and no fresh memory for each weight (touching fresh pages costs more than quantizing them).
  const range = pool ? await floatFileRangeOf(reader, info) : undefined;
  let outcome;
  if (range && isFileWeightDType(info.dtype)) {
    const integers = spares?.take(fileIntegerBytes(info.shape, decision, FILE_BLOCK_BYTES, true)); // as the worker reads it
    const parameters = spares?.takeParameters(paramShapeOf(info.shape, decision).reduce((a, b) => a * b, 1));
    outcome = await pool!.run('planWeightFile', [range, [...info.shape], decision, integers, info.dtype, parameters, freshBytes],
      [...(integers ? [integers] : []), ...lentBuffers(parameters)]);
    if (outcome.kind === 'quantized') {
      spares?.adopt(integersBufferOf(outcome.result.q));
      spares?.adoptParameters(outcome.result);
    }
  }
  if (!outcome && blocksHere) outcome = await planInBlocks(reader, info, decision, spares);
  if (!outcome) {
    let data: Float32Array;
    if (info.dtype === 'float64') {
      const bytes = await reader.read(info.name);
      const loss = float64Loss(bytes);
      if (loss) return { keep: loss, steps: [] };
      data = toFloat32(bytes, info.dtype, info.name);
    } else data = pool ? await ownFloat32(reader, info) : float32View(await (early ?? reader.read(info.name)), info.dtype, info.name); // only read here
    if (pool) outcome = await pool.run('planWeight', [{ data, shape: [...info.shape] }, decision], [data.buffer as ArrayBuffer]);
    else {
      const floored = await quantizeWithFloor({ data, shape: [...info.shape] }, decision, {}, backend);
      outcome = floored.kind === 'keep' && floored.nonFinite ? { kind: 'nonFinite' as const } : floored;
    }
  }
  if (outcome.kind === 'nonFinite') return { keep: NON_FINITE_KEPT, steps: [] };
  return outcome.kind === 'keep' ? { keep: outcome.reason, steps: outcome.steps }
    : { decision: outcome.decision, steps: outcome.steps, result: outcome.result };
}
