/**
 * Plans an elementwise kernel call (quantize, dequantize, fake-quantize): which variant runs (per tensor,
 * grouped, or one of the stationary kernels), its pipeline with every override constant, the uniform of each
 * chunk, the parameter table and the chunk alignment. `planElementwise` is pure (the device is only read for
 * its limits) and returns a frozen plan; `runElementwise` binds the plan's table and runs it. The bench
 * builds its device-only dispatches from the same plans, so they run the library's exact pipelines.
 *
 * @example
 * ```ts
 * const plan = planElementwise(device, { op: 'quantize', info: dtypeInfo('qint8'), params, range: info, shape,
 *   packed4x8: true }, vecGeometry('quantize', info));
 * plan.pipeline.label; // 'quantize|stationary|qint8|runs' for per-channel rows of whole vecs
 * ```
 * @module
 */
import type { DTypeInfo } from '../../dtype.js';
import type { GpuManager } from '../../gpu/device.js';
import type { PipelineSpec } from '../../gpu/pipeline-cache.js';
import { paramLayout } from '../../layout.js';
import type { QParams } from '../../qtensor.js';
import { checkScale, knownSmallestScale } from '../../validate.js';
import { type ChunkedJob, type ChunkGeometry, chunkElements, runChunked } from '../common/run-chunked.js';
import { type ClampRange, type TableSource, buildTable, schemeBindings, tableBytes, tableSource, writeTable } from './scheme-params.js';
import type { GpuRun } from '../../gpu/gpu-run.js';
import { STAGED_UPLOAD_BYTES, uploadFloat32 } from '../../gpu/staged-upload.js';
import { buildsTableOnDevice, encodeParamTable } from './param-table-kernel.js';
import { type KernelOp, kernelVariant } from './shader-sources.js';
import { STATIONARY_KIND, type StationaryLayout, perTensorStationary, stationaryChunk, stationaryLayout } from './stationary.js';

/**
 * Inverse scales above this need the quantize kernels' subnormal path (override EXACT_SUBNORMALS): below
 * it a subnormal input, flushed to zero by the hardware or not, quantizes to the zero point either way.
 */
export const SUBNORMAL_INVERSE_SCALE = 2 ** 125;

/** What an elementwise call computes. */
export interface ElementwiseRequest {
  readonly op: KernelOp;
  readonly info: DTypeInfo;
  readonly params: QParams;
  /** The integer range to clamp to: the dtype's, or fake quantization's quant_min / quant_max. */
  readonly range: ClampRange;
  readonly shape: readonly number[];
  /** The device has `packed_4x8_integer_dot_product`: the built-in 8-bit packing. */
  readonly packed4x8: boolean;
}

/** Everything a call runs with, beyond its data: see the module documentation. */
export interface ElementwisePlan {
  readonly pipeline: PipelineSpec;
  readonly uniform: (start: number, vecCount: number, threadCount: number) => ArrayBuffer;
  /**
   * The parameter table to bind at 3 (per channel, per group, stationary), if any: built, unless planned with
   * `{ table: 'source' }`, which leaves it to be written from {@link ElementwisePlan.tableSource}.
   */
  readonly table?: Float32Array<ArrayBuffer>;
  /** How to build or write that table (see scheme-params.ts writeTable), whenever there is one. */
  readonly tableSource?: TableSource;
  /** The stationary kernels: invocations per chunk of `vecCount` vecs, and the elements a chunk is a multiple of. */
  readonly threadsFor?: (vecCount: number) => number;
  readonly chunkAlign?: number;
}

/**
 * The plan of `request` for chunks of `geometry`. Quantize and dequantize of 8-bit and 4-bit dtypes run the
 * stationary kernels when the parameter rows line up with vecs and a chunk holds a whole run; quantize adds
 * EXACT_SUBNORMALS when the smallest scale needs it. `options.table`: 'built' (the default) puts the whole
 * parameter table in `table`; 'source' leaves only `tableSource`, for a caller that writes it to the GPU with
 * writeTable (scheme-params.ts) without holding it.
 *
 * @example
 * ```ts
 * const plan = planElementwise(device, request, vecGeometry('dequantize', info));
 * plan.pipeline.constants.STATIONARY_KIND; // 1, 2, 3 (see STATIONARY_KIND) or undefined for the general kernels
 * ```
 */
export function planElementwise(
  device: GPUDevice, request: ElementwiseRequest, geometry: ChunkGeometry, options: { table?: 'built' | 'source' } = {},
): ElementwisePlan {
  const withTable = (source: TableSource | undefined): Pick<ElementwisePlan, 'table' | 'tableSource'> => (!source ? {}
    : options.table === 'source' ? { tableSource: source } : { table: buildTable(source), tableSource: source });
  const { op, info, params, range, shape, packed4x8 } = request;
  const exactSubnormals: Record<string, number> = op === 'quantize' && largestInverseScale(params) > SUBNORMAL_INVERSE_SCALE ? { EXACT_SUBNORMALS: 1 } : {};
  const stationary = op !== 'fakeQuantize' ? stationaryFor(device, request, geometry) : undefined;
  if (!stationary) {
    const variant = kernelVariant(op, params.scheme === 'per_tensor_affine' ? 'perTensor' : 'grouped', info, packed4x8);
    const { uniform, table, constants } = schemeBindings(params, range, shape, geometry.elementsPerVec);
    return Object.freeze({
      pipeline: Object.freeze({ ...variant, constants: Object.freeze({ ...variant.constants, ...exactSubnormals, ...constants }) }),
      uniform,
      ...withTable(table),
    });
  }
  const s = stationary;
  const vecElements = geometry.elementsPerVec;
  const variant = kernelVariant(op, 'stationary', info, packed4x8);
  const runVecs: Record<string, number> = s.kind === 'shortRuns' ? { RUN_VECS: s.runElements / vecElements } : {};
  const [scales, zeroPoints] = params.scheme === 'per_tensor_affine'
    ? [Float64Array.of(params.scale), Int32Array.of(params.zeroPoint)] : [params.scales, params.zeroPoints];
  return Object.freeze({
    pipeline: Object.freeze({
      ...variant,
      label: `${variant.label}|${s.kind}`,
      constants: Object.freeze({ ...variant.constants, STATIONARY_KIND: STATIONARY_KIND[s.kind], ...runVecs, ...exactSubnormals }),
    }),
    uniform: (start: number, vecCount: number) => stationaryChunk(s, vecElements, start, vecCount * vecElements, range).uniform,
    threadsFor: (vecCount: number) => stationaryChunk(s, vecElements, 0, vecCount * vecElements, range).threads,
    chunkAlign: s.alignElements,
    ...withTable(tableSource(s.kind === 'columns' ? 'table' : op === 'quantize' ? 'quantRows' : 'rows', scales, zeroPoints, range)),
  });
}

/**
 * The largest fround(1 / fround(scale)) of `params`: the inverse of the smallest scale (the inverse never
 * grows with the scale). Decides EXACT_SUBNORMALS.
 *
 * @example
 * ```ts
 * largestInverseScale({ scheme: 'per_tensor_affine', scale: 0.5, zeroPoint: 0 }); // 2
 * ```
 */
export function largestInverseScale(params: QParams): number {
  if (params.scheme === 'per_tensor_affine') return checkScale(params.scale);
  const scales = params.scales; // an indexed loop: for...of with Math.min / Math.max measured 20x slower on 512K values
  let smallest = knownSmallestScale(scales) ?? Infinity; // found when the parameters were checked
  if (smallest === Infinity) {
    for (let i = 0; i < scales.length; i++) {
      const scale = scales[i]!;
      if (scale < smallest) smallest = scale;
    }
  }
  return params.scales.length ? checkScale(smallest) : 0;
}

/** The stationary layout a call can run with (8-bit and 4-bit dtypes, chunks holding at least one run), or undefined. */
function stationaryFor(device: GPUDevice, request: ElementwiseRequest, geometry: ChunkGeometry): StationaryLayout | undefined {
  const { info, params, range, shape } = request;
  if (info.bits === 32) return undefined;
  const vecElements = geometry.elementsPerVec;
  const s = params.scheme === 'per_tensor_affine' ? perTensorStationary(vecElements) : stationaryLayout(paramLayout(shape, params), vecElements);
  if (!s) return undefined;
  const threadsFor = (vecCount: number): number => stationaryChunk(s, vecElements, 0, vecCount * vecElements, range).threads;
  return chunkElements(device, { ...geometry, chunkAlign: s.alignElements, threadsFor }) > 0 ? s : undefined;
}

/**
 * Plans `request` (planElementwise), writes the plan's parameter table if any and binds it, and runs the
 * chunks of `io`. A float32 input of 4 MiB or more in one chunk goes up through staging buffers where
 * `manager.stagedUploads` holds (withStagedInput). Where `manager.deviceTables` holds (a GPU, not a software
 * adapter), a table of DEVICE_TABLE_MIN_ROWS rows or more is built on the device in the first chunk's submit
 * (param-table-kernel.ts); otherwise, or for a table the device does not build (buildsTableOnDevice), it is
 * written from the host in slices through a reused array (writeTable).
 *
 * @example
 * ```ts
 * await runElementwise(manager, request, { ...vecGeometry('quantize', info), size, writeInput, readOutput });
 * ```
 */
export async function runElementwise(
  manager: GpuManager, request: ElementwiseRequest, io: Omit<ChunkedJob, keyof ElementwisePlan | 'extraEntries' | 'prepare'>,
): Promise<void> {
  const plan = planElementwise(manager.device, request, io, { table: 'source' });
  await withStagedInput(manager, { ...io, ...plan }, async (staged) => {
    const source = plan.tableSource;
    if (!source) {
      await runChunked(manager, { ...io, ...plan, ...staged });
      return;
    }
    await runWithTable(manager, request, { ...io, ...plan, ...staged }, source);
  });
}

/**
 * Runs `body` with the job's input uploaded through the pool's staging buffers and bound as `inputBuffer`, when
 * the job has float32 `hostInput` of STAGED_UPLOAD_BYTES or more in one chunk and `manager.stagedUploads` holds
 * (Node: writeBuffer copies into fresh staging memory, 2–3× slower on the H200's host); else with nothing, and
 * the chunks write their input.
 */
async function withStagedInput(
  manager: GpuManager, job: Omit<ChunkedJob, 'extraEntries' | 'prepare'>, body: (staged: { inputBuffer?: GPUBuffer }) => Promise<void>,
): Promise<void> {
  const host = job.hostInput;
  if (!host || !manager.stagedUploads || host.byteLength < STAGED_UPLOAD_BYTES || chunkElements(manager.device, job) < job.size) {
    await body({});
    return;
  }
  const bytes = Math.ceil(job.size / job.elementsPerVec) * job.inputBytesPerVec;
  const inputBuffer = manager.pool.acquire(bytes, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, `${job.pipeline.label}.input`);
  try {
    try {
      await uploadFloat32(manager, inputBuffer, host, `${job.pipeline.label}.input`);
    } catch (error) {
      await manager.throwIfLostAfterFailure(error);
      throw error;
    }
    await body({ inputBuffer });
  } finally {
    manager.pool.release(inputBuffer);
  }
}

/** Runs `job` with its parameter table from `source` bound at 3 (see runElementwise). */
async function runWithTable(
  manager: GpuManager, request: ElementwiseRequest, job: Omit<ChunkedJob, 'extraEntries' | 'prepare'>, source: TableSource,
): Promise<void> {
  const bytes = tableBytes(source);
  const buffer = manager.pool.acquire(bytes, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, `${job.pipeline.label}.paramTable`);
  try {
    const onDevice = buildsTableOnDevice(manager, source, request.info);
    if (!onDevice) writeTable(manager.device.queue, buffer, source);
    await runChunked(manager, {
      ...job, extraEntries: [{ binding: 3, resource: { buffer, size: bytes } }],
      ...(onDevice ? { prepare: (run: GpuRun) => encodeParamTable(run, manager, source, buffer, job.maxWorkgroupsPerDimension) } : {}),
    });
  } finally {
    manager.pool.release(buffer);
  }
}
