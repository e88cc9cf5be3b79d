/**
 * A quantized tensor: stored integers plus the parameters that map them back to real values, with the
 * accessors PyTorch's quantized tensors have (`int_repr`, `q_scale`, `q_per_channel_scales`, ...).
 *
 * @example
 * ```ts
 * import { fromIntRepr } from 'webgpu-quant';
 * const q = fromIntRepr(new Int8Array([-3, 0, 3, 6]), [4], 'qint8', { scale: 0.5, zeroPoint: 0 });
 * q.qscheme();   // 'per_tensor_affine'
 * q.intRepr();   // Int8Array [-3, 0, 3, 6]
 * q.qScale();    // 0.5
 * ```
 * @module
 */
import { type IntReprArray, type QDType, dtypeInfo } from './dtype.js';
import { DataOnGpuError, InvalidArgumentError } from './errors.js';
import { type ResolvedBackend, shapeSize } from './tensor.js';
import { packNibbles, unpackNibbles } from './pack-nibbles.js';
import { checkChannelParams, checkGroupSize, checkScale, checkZeroPoint, groupParamCount, normalizeAxis } from './validate.js';

/** The quantization schemes, named as in PyTorch's `qscheme()`, plus ONNX-style blocked groups. */
export type QScheme = 'per_tensor_affine' | 'per_channel_affine' | 'per_group_affine';

/** Per-tensor parameters: one scale and zero point for the whole tensor. */
export interface PerTensorParams { scale: number; zeroPoint: number }

/** Per-channel parameters: one scale and zero point per index along `axis`. */
export interface PerChannelParams { scales: ArrayLike<number>; zeroPoints: ArrayLike<number>; axis: number }

/**
 * Per-group (blocked) parameters, ONNX QuantizeLinear opset 21 `block_size` semantics: `scales` and
 * `zeroPoints` have the input's shape with the axis dimension n replaced by `ceil(n / groupSize)`,
 * flattened row-major; the last group along the axis may be short.
 */
export interface PerGroupParams extends PerChannelParams { groupSize: number }

/** Internal: the validated parameters a QTensor holds. */
export type QParams =
  | { scheme: 'per_tensor_affine'; scale: number; zeroPoint: number }
  | { scheme: 'per_channel_affine'; scales: Float64Array; zeroPoints: Int32Array; axis: number }
  | { scheme: 'per_group_affine'; scales: Float64Array; zeroPoints: Int32Array; axis: number; groupSize: number };

/**
 * Stored integers held on a GPU: the bytes as {@link QTensor.packedData} lays them out (4-bit two per byte,
 * 8-bit one per byte, qint32 four), from byte 0 of `buffer`, zero-padded to whole 16-byte vecs.
 * Implemented by the GPU kernels; a QTensor only holds it.
 */
export interface DeviceIntegers {
  readonly buffer: GPUBuffer;
  readonly device: GPUDevice;
  /** The bytes that hold the tensor (at least the packed length, a multiple of 16). */
  readonly byteLength: number;
  /** Copies `byteLength` bytes back to the CPU. */
  read(): Promise<Uint8Array>;
  /** Hands the buffer back (to the pool it came from). Called once. */
  release(): void;
}

/**
 * 4-bit integers held two to a byte, as {@link QTensor.packedData} lays them out (element 0 in the low nibble):
 * what the GPU reads back. A QTensor holding them unpacks them on the first synchronous access that needs one
 * integer per element, and hands them to `packedData()` and the GPU without unpacking.
 */
export interface PackedNibbles {
  /** At least `ceil(size / 2)` bytes; bytes past those are ignored, and for an odd size the last high nibble is cleared. */
  readonly nibbles: Uint8Array;
}

/** The first `ceil(size / 2)` bytes of `nibbles`, an odd length's padding nibble cleared (in place) as packedData() has it. */
function zeroPadded(nibbles: Uint8Array, size: number): Uint8Array {
  const bytes = nibbles.subarray(0, Math.ceil(size / 2));
  if (size % 2 === 1) bytes[bytes.length - 1]! &= 0x0f;
  return bytes;
}

/**
 * A quantized tensor. Build one with `quantizePerTensor` / `quantizePerChannel`, or from stored integers with
 * {@link fromIntRepr}. Immutable: accessors return copies.
 *
 * @example
 * ```ts
 * const q = await quantizePerChannel(w, [0.1, 0.2], [0, 0], 0, 'qint8');
 * q.qPerChannelScales(); // Float64Array [0.1, 0.2]
 * q.qPerChannelAxis();   // 0
 * ```
 */
export class QTensor {
  readonly dtype: QDType;
  readonly shape: readonly number[];
  /** Which backend computed this tensor ('cpu' for tensors built with fromIntRepr). */
  readonly backend: ResolvedBackend;
  /** The element count. */
  readonly size: number;
  #values: IntReprArray | undefined;
  #nibbles: Uint8Array | undefined;
  #device: DeviceIntegers | undefined;
  #released = false;
  readonly #params: QParams;

  /**
   * @internal Use quantizePerTensor, quantizePerChannel or fromIntRepr. The arrays are adopted, not copied;
   * `values` may instead be integers held on a GPU, or (4-bit dtypes) packed two to a byte.
   */
  constructor(
    values: IntReprArray | DeviceIntegers | PackedNibbles, shape: readonly number[], dtype: QDType, params: QParams, backend: ResolvedBackend,
  ) {
    if (ArrayBuffer.isView(values)) this.#values = values;
    else if ('nibbles' in values) this.#nibbles = zeroPadded(values.nibbles, shapeSize(shape));
    else this.#device = values;
    this.shape = Object.freeze([...shape]);
    this.size = shapeSize(shape);
    this.dtype = dtype;
    this.#params = params;
    this.backend = backend;
  }

  /** 'per_tensor_affine' or 'per_channel_affine'. */
  qscheme(): QScheme { return this.#params.scheme; }

  /** True while the integers are held on the GPU (quantized with `{ output: 'gpu' }` and not destroyed). */
  get onGpu(): boolean { return this.#device !== undefined; }

  /** True once the integers are on the CPU: the synchronous accessors work. */
  get onCpu(): boolean { return this.#values !== undefined || this.#nibbles !== undefined; }

  /**
   * The GPU buffer holding the integers, laid out as {@link packedData} (zero-padded to 16 bytes). Only for
   * tensors quantized with `{ output: 'gpu' }`, until {@link destroy}. Do not destroy it yourself.
   *
   * @example
   * ```ts
   * const q = await quantizePerTensor(w, 0.1, 0, 'qint8', { output: 'gpu' });
   * encoder.copyBufferToBuffer(q.gpuBuffer, 0, mine, 0, 16);
   * ```
   */
  get gpuBuffer(): GPUBuffer { return this.#gpu('gpuBuffer').buffer; }

  /** @internal The integers on the GPU, if they are there. */
  get deviceIntegers(): DeviceIntegers | undefined { return this.#device; }

  /**
   * @internal The 4-bit integers packed two to a byte (`ceil(size / 2)` bytes, as packedData() lays them out) while
   * they are held that way (not yet unpacked); shared, not copied.
   */
  get packedNibbles(): Uint8Array | undefined { return this.#nibbles; }

  /**
   * Brings the integers to the CPU (once; later calls return at once) and returns this tensor, whose
   * synchronous accessors then work. The GPU copy is kept until {@link destroy}.
   *
   * @example
   * ```ts
   * const q = await quantizePerTensor(w, 0.1, 0, 'qint8', { output: 'gpu' });
   * (await q.read()).intRepr(); // Int8Array
   * ```
   */
  async read(): Promise<this> {
    if (this.onCpu) return this;
    const bytes = await this.#gpu('read').read();
    if (this.onCpu) return this; // a concurrent read() finished first
    const info = dtypeInfo(this.dtype);
    if (info.bits === 4) this.#nibbles = zeroPadded(bytes, this.size);
    else this.#values = info.bits === 8 ? (info.signed ? new Int8Array(bytes.buffer, bytes.byteOffset, this.size) : new Uint8Array(bytes.buffer, bytes.byteOffset, this.size))
        : new Int32Array(bytes.slice(0, 4 * this.size).buffer);
    return this;
  }

  /**
   * Releases the GPU buffer of a tensor quantized with `{ output: 'gpu' }` (back to the library's pool). Integers
   * already read stay readable; a tensor never read can no longer be used. Safe to call twice; a no-op for
   * CPU tensors.
   *
   * @example
   * ```ts
   * const q = await quantizePerTensor(w, 0.1, 0, 'qint8', { output: 'gpu' });
   * const x = await dequantize(q, { output: 'gpu' });
   * q.destroy();
   * ```
   */
  destroy(): void {
    const device = this.#device;
    if (!device) return;
    this.#device = undefined;
    this.#released = true;
    device.release();
  }

  /** A copy of the stored integers, one per element, row-major (PyTorch's `int_repr()`). */
  intRepr(): IntReprArray { return this.#cpu('intRepr').slice(); }

  /** The stored integers without a copy. Do not modify: the tensor shares this array. */
  intReprView(): Readonly<IntReprArray> { return this.#cpu('intReprView'); }

  /** The scale of a per-tensor quantized tensor (as given, float64). */
  qScale(): number { return this.#perTensor('qScale').scale; }

  /** The zero point of a per-tensor quantized tensor. */
  qZeroPoint(): number { return this.#perTensor('qZeroPoint').zeroPoint; }

  /** The per-channel scales (as given, float64), one per index along the axis. */
  qPerChannelScales(): Float64Array { return this.#axisParams('qPerChannelScales', 'per_channel_affine').scales.slice(); }

  /** The per-channel zero points. */
  qPerChannelZeroPoints(): Int32Array { return this.#axisParams('qPerChannelZeroPoints', 'per_channel_affine').zeroPoints.slice(); }

  /** The channel axis (non-negative); for per-group tensors, the axis the groups run along. */
  qPerChannelAxis(): number { return this.#axisParams('qPerChannelAxis').axis; }

  /** The per-group scales (as given), shaped like the input with the axis dimension replaced by the group count. */
  qPerGroupScales(): Float64Array { return this.#axisParams('qPerGroupScales', 'per_group_affine').scales.slice(); }

  /** The per-group zero points, laid out like {@link qPerGroupScales}. */
  qPerGroupZeroPoints(): Int32Array { return this.#axisParams('qPerGroupZeroPoints', 'per_group_affine').zeroPoints.slice(); }

  /** The group size of a per-group tensor. */
  qGroupSize(): number {
    this.#axisParams('qGroupSize', 'per_group_affine');
    return (this.#params as { groupSize: number }).groupSize;
  }

  /**
   * The stored integers as bytes, as a runtime stores them: 4-bit values two per byte with element 0 in the
   * low nibble (an odd length padded with a zero nibble), 8-bit values one per byte, qint32 little-endian.
   */
  packedData(): Uint8Array {
    if (this.#nibbles) return this.#nibbles.slice(0, Math.ceil(this.size / 2));
    const values = this.#cpu('packedData');
    if (dtypeInfo(this.dtype).bits === 4) return packNibbles(values);
    return new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
  }

  /** @internal The validated parameters, shared, not copied. */
  get params(): Readonly<QParams> { return this.#params; }

  #cpu(method: string): IntReprArray {
    if (this.#values) return this.#values;
    if (this.#nibbles) {
      // Unpacked once, on the first access that needs one integer per element; the packed copy is dropped.
      this.#values = unpackNibbles(this.#nibbles, this.size, dtypeInfo(this.dtype).signed);
      this.#nibbles = undefined;
      return this.#values;
    }
    throw new DataOnGpuError(this.#released
      ? `${method}(): this tensor's GPU buffer was released by destroy() before its integers were read; read() before destroy()`
      : `${method}(): the integers of this tensor are on the GPU (quantized with output 'gpu'); call \`await q.read()\` first`);
  }

  #gpu(method: string): DeviceIntegers {
    if (this.#device) return this.#device;
    throw new DataOnGpuError(this.#released
      ? `${method}: this tensor's GPU buffer was released by destroy(); quantize again`
      : `${method}: this tensor's integers are on the CPU, not the GPU; quantize with { output: 'gpu' } to keep them there`);
  }

  #perTensor(method: string): { scale: number; zeroPoint: number } {
    if (this.#params.scheme !== 'per_tensor_affine') {
      throw new InvalidArgumentError('qscheme', this.#params.scheme,
        `${method}() needs a per_tensor_affine tensor, this one is ${this.#params.scheme}; use ${
          this.#params.scheme === 'per_group_affine' ? 'qPerGroupScales()/qPerGroupZeroPoints()' : 'qPerChannelScales()/qPerChannelZeroPoints()'} instead`);
    }
    return this.#params;
  }

  #axisParams(method: string, scheme?: QScheme): { scales: Float64Array; zeroPoints: Int32Array; axis: number } {
    const actual = this.#params.scheme;
    if (actual === 'per_tensor_affine' || (scheme !== undefined && actual !== scheme)) {
      const hint = actual === 'per_tensor_affine' ? 'use qScale()/qZeroPoint()'
        : actual === 'per_group_affine' ? 'use qPerGroupScales()/qPerGroupZeroPoints()' : 'use qPerChannelScales()/qPerChannelZeroPoints()';
      throw new InvalidArgumentError('qscheme', actual, `${method}() needs a ${scheme ?? 'per-channel or per-group'} tensor, this one is ${actual}; ${hint}`);
    }
    return this.#params;
  }
}

/**
 * Validates quantization parameters for a tensor of `shape` and returns them in the form a QTensor holds.
 *
 * @example
 * ```ts
 * checkQParams([2, 3], dtypeInfo('qint8'), { scales: [0.1, 0.2], zeroPoints: [0, 0], axis: 0 });
 * ```
 */
export function checkQParams(
  shape: readonly number[], dtype: QDType, params: PerTensorParams | PerChannelParams | PerGroupParams,
): QParams {
  const info = dtypeInfo(dtype);
  if (params === null || typeof params !== 'object') {
    throw new InvalidArgumentError('params', params, 'params must be { scale, zeroPoint }, { scales, zeroPoints, axis } or { scales, zeroPoints, axis, groupSize }');
  }
  if ('groupSize' in params) {
    const axis = normalizeAxis(params.axis, shape.length);
    const groupSize = checkGroupSize(params.groupSize, shape[axis]!);
    const count = groupParamCount(shape, axis, groupSize);
    const checked = checkChannelParams(params.scales, params.zeroPoints, count, info,
      `the groups need ${count} (shape [${shape.join(', ')}] with axis ${axis} split into groups of ${groupSize}: `
      + `[${shape.map((d, i) => (i === axis ? Math.ceil(d / groupSize) : d)).join(', ')}], row-major)`);
    return { scheme: 'per_group_affine', scales: checked.scales, zeroPoints: checked.zeroPoints, axis, groupSize };
  }
  if ('scales' in params) {
    const axis = normalizeAxis(params.axis, shape.length);
    const checked = checkChannelParams(params.scales, params.zeroPoints, shape[axis]!, info);
    return { scheme: 'per_channel_affine', scales: checked.scales, zeroPoints: checked.zeroPoints, axis };
  }
  checkScale(params.scale, 'scale');
  checkZeroPoint(params.zeroPoint, info, 'zeroPoint');
  return { scheme: 'per_tensor_affine', scale: params.scale, zeroPoint: params.zeroPoint + 0 }; // -0 -> 0
}

/** Whether every value an array of `values`' type can hold lies in [qmin, qmax]. */
function holdsOnlyValid(values: IntReprArray, qmin: number, qmax: number): boolean {
  const bits = 8 * values.BYTES_PER_ELEMENT;
  const signed = values instanceof Int8Array || values instanceof Int16Array || values instanceof Int32Array;
  return signed ? qmin <= -(2 ** (bits - 1)) && qmax >= 2 ** (bits - 1) - 1 : qmin <= 0 && qmax >= 2 ** bits - 1;
}

/**
 * Builds a quantized tensor from stored integers (what `torch._make_per_tensor_quantized_tensor` and
 * `torch._make_per_channel_quantized_tensor` do), e.g. when loading a compressed model. The integers are
 * copied into the dtype's typed array; values outside the dtype's range are rejected.
 *
 * @example
 * ```ts
 * const q = fromIntRepr([-3, 0, 3, 6], [4], 'qint8', { scale: 0.5, zeroPoint: 0 });
 * (await dequantize(q)).data; // Float32Array [-1.5, 0, 1.5, 3]
 * const qc = fromIntRepr(new Uint8Array(6), [2, 3], 'quint8', { scales: [1, 2], zeroPoints: [0, 0], axis: 0 });
 * const qg = fromIntRepr(new Int8Array(6), [1, 6], 'qint4', { scales: [1, 2], zeroPoints: [0, 0], axis: 1, groupSize: 4 });
 * ```
 */
export function fromIntRepr(
  intRepr: ArrayLike<number>, shape: number[], dtype: QDType, params: PerTensorParams | PerChannelParams | PerGroupParams,
): QTensor {
  const info = dtypeInfo(dtype);
  const size = shapeSize(shape, 'shape');
  if (intRepr === null || typeof intRepr !== 'object' || typeof intRepr.length !== 'number') {
    throw new InvalidArgumentError('intRepr', intRepr, 'intRepr must be an array or typed array of integers');
  }
  if (intRepr.length !== size) {
    throw new InvalidArgumentError('intRepr', intRepr,
      `intRepr has ${intRepr.length} values but shape [${shape.join(', ')}] needs ${size}`);
  }
  const checked = checkQParams(shape, dtype, params);
  const values = info.makeArray(size);
  if (intRepr instanceof (values.constructor as typeof Int8Array) && holdsOnlyValid(values, info.qmin, info.qmax)) {
    // Every value such an array can hold is one of the dtype's (int8 in an Int8Array, say): one copy.
    values.set(intRepr as unknown as ArrayLike<number>);
    return new QTensor(values, shape, dtype, checked, 'cpu');
  }
  for (let i = 0; i < size; i++) {
    const v = intRepr[i]!;
    if (!Number.isInteger(v) || v < info.qmin || v > info.qmax) {
      throw new InvalidArgumentError(`intRepr[${i}]`, v,
        `intRepr[${i}] is ${String(v)}; ${dtype} values must be integers in [${info.qmin}, ${info.qmax}]`);
    }
    values[i] = v;
  }
  return new QTensor(values, shape, dtype, checked, 'cpu');
}
