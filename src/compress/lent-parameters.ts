/**
 * A weight's parameters lent back to the CPU workers: a worker that reads a weight in blocks writes its parameters
 * (float32 scales, int32 zero points, and the QTensor's float64 scales: 8 MiB for a [4096, 4096] weight in groups of
 * 32) into memory the calling thread sends with the task, and sends them back in it, transferred. The calling thread
 * keeps the memory of a weight nothing holds any more for the next weight of as many parameters (IntegerLender for
 * ONNX, SpareIntegers for safetensors), so that no worker makes fresh arrays of megabytes a weight, which its
 * thread's allocator arena would keep resident once freed (docs/performance.md, "Parameters and scratch kept from
 * weight to weight").
 *
 * @example
 * ```ts
 * const spares = parameterSpares(4);
 * const lent = spares.take(groups); // for floorWeightFile's `parameters`; transfer lentBuffers(lent)
 * // ... the weight is written, nothing holds its parameters ...
 * const back = lentParametersOf(outcome.result, LEND_FROM_BYTES);
 * if (back) spares.give(back);
 * ```
 * @module
 */
import type { QuantizedWeight } from './quantize-weight.js';

/** A weight's parameters as they go to a worker (transferred): memory for float32 scales, int32 zero points and float64 scales. */
export interface LentParameters { scales: ArrayBuffer; zeroPoints: ArrayBuffer; scales64: ArrayBuffer }

/**
 * Whether `result`'s parameters lie in the buffer of its packed integers, after them (a worker's weight packed two
 * to a byte: packedWithParameters, file-blocking.ts). That buffer goes back to a worker once the model lets go of
 * the integers, parameters and all: nothing that outlives the commit may keep a view of them (onnx-commit.ts keeps
 * a copy of such scales for quantizing again).
 *
 * @example
 * ```ts
 * const scales32 = parametersInIntegers(result) ? undefined : result.scales; // a view that goes with the integers
 * ```
 */
export function parametersInIntegers(result: QuantizedWeight): boolean {
  const packed = result.q.packedNibbles;
  return packed !== undefined && result.scales.buffer === packed.buffer;
}

/**
 * The buffers under a quantized weight's parameters as a worker's arrive (float32 scales, int32 zero points shared
 * with its QTensor, the QTensor's float64 scales, each filling a buffer of its own), where they come to
 * `fromBytes` or more in all; else undefined.
 *
 * @example
 * ```ts
 * lentParametersOf(outcome.result, 0); // { scales, zeroPoints, scales64 } for a weight in groups from a worker
 * ```
 */
export function lentParametersOf(result: QuantizedWeight, fromBytes: number): LentParameters | undefined {
  const { scales, zeroPoints, q } = result;
  const params = q.params;
  if (params.scheme === 'per_tensor_affine' || params.zeroPoints !== zeroPoints) return undefined;
  const arrays = [scales, zeroPoints, params.scales] as const;
  const whole = (a: ArrayBufferView) => a.buffer instanceof ArrayBuffer && a.byteOffset === 0 && a.byteLength === a.buffer.byteLength;
  if (!(scales instanceof Float32Array) || !(zeroPoints instanceof Int32Array) || !(params.scales instanceof Float64Array) || !arrays.every(whole)) return undefined;
  if (new Set(arrays.map((a) => a.buffer)).size !== 3 || 16 * scales.length < fromBytes) return undefined;
  return { scales: scales.buffer as ArrayBuffer, zeroPoints: zeroPoints.buffer as ArrayBuffer, scales64: params.scales.buffer as ArrayBuffer };
}

/**
 * The buffers to transfer with a task that takes `parameters` (none where there are none).
 *
 * @example
 * ```ts
 * await pool.run('planWeightFile', [range, shape, decision, integers, dtype, lent], [...sent, ...lentBuffers(lent)]);
 * ```
 */
export function lentBuffers(parameters: LentParameters | undefined): ArrayBuffer[] {
  return parameters ? [parameters.scales, parameters.zeroPoints, parameters.scales64] : [];
}

/**
 * Lent memory for exactly `count` parameters as a worker writes into it (floorWeightInBlocks' `reuse`: the results
 * are then views of the whole of each buffer, and go back transferred); undefined where the sizes are not that.
 *
 * @example
 * ```ts
 * const reuse = lentParams && lentMemory(lentParams, groups); // { scales, zeroPoints, scales64 } typed arrays
 * ```
 */
export function lentMemory(parameters: LentParameters, count: number): { scales: Float32Array; zeroPoints: Int32Array; scales64: Float64Array } | undefined {
  const { scales, zeroPoints, scales64 } = parameters;
  if (scales.byteLength !== 4 * count || zeroPoints.byteLength !== 4 * count || scales64.byteLength !== 8 * count) return undefined;
  return { scales: new Float32Array(scales), zeroPoints: new Int32Array(zeroPoints), scales64: new Float64Array(scales64) };
}

/** What {@link parameterSpares} returns. */
export interface ParameterSpares {
  /** Keeps `parameters` for a later weight (the oldest let go past the limit). */
  give(parameters: LentParameters): void;
  /** Memory for exactly `count` parameters, taken out of the list, or undefined. */
  take(count: number): LentParameters | undefined;
}

/**
 * A free list of at most `limit` lent parameters' memories, handed out for exactly as many parameters.
 *
 * @example
 * ```ts
 * const spares = parameterSpares(4);
 * spares.give(lent);
 * spares.take(lent.scales.byteLength / 4) === lent; // true, once
 * ```
 */
export function parameterSpares(limit: number): ParameterSpares {
  const free: LentParameters[] = [];
  return {
    give(parameters) {
      free.push(parameters);
      if (free.length > limit) free.shift();
    },
    take(count) {
      const at = free.findIndex((p) => p.scales.byteLength === 4 * count);
      return at < 0 ? undefined : free.splice(at, 1)[0];
    },
  };
}
