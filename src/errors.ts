/**
 * The typed errors webgpu-quant throws. Every message names the argument, the value that was wrong and
 * what to do instead, so a caller can show it to a person as it is.
 *
 * @example
 * ```ts
 * import { quantizePerTensor, tensor, InvalidArgumentError } from 'webgpu-quant';
 * try {
 *   await quantizePerTensor(tensor([1, 2]), 0, 0, 'qint8');
 * } catch (e) {
 *   if (e instanceof InvalidArgumentError) console.log(e.argument, e.message); // 'scale', ...
 * }
 * ```
 * @module
 */

/** Base class of every error webgpu-quant throws on purpose. */
export class WebGpuQuantError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * An argument was out of its allowed domain (a non-positive scale, an axis out of range, ...).
 *
 * @example
 * ```ts
 * throw new InvalidArgumentError('axis', 5, 'axis 5 is out of range for a rank-2 tensor; use -2..1');
 * ```
 */
export class InvalidArgumentError extends WebGpuQuantError {
  /** The name of the offending argument, e.g. `'scale'` or `'zeroPoints[3]'`. */
  readonly argument: string;
  /** The offending value, as given. */
  readonly value: unknown;
  constructor(argument: string, value: unknown, message: string) {
    super(message);
    this.argument = argument;
    this.value = value;
  }
}

/**
 * The GPU device was lost (driver reset, `device.destroy()`, tab in the background too long).
 * Calls in flight reject with it; with a library-owned device the next call re-acquires a fresh one.
 *
 * @example
 * ```ts
 * try { await dequantize(q); } catch (e) { if (e instanceof DeviceLostError) await dequantize(q); }
 * ```
 */
export class DeviceLostError extends WebGpuQuantError {
  /** The reason from `GPUDeviceLostInfo`, or `'unknown'`. */
  readonly reason: string;
  constructor(message: string, reason = 'unknown', options?: { cause?: unknown }) {
    super(message, options);
    this.reason = reason;
  }
}

/**
 * WebGPU is not available (no `navigator.gpu`, no adapter, or the optional `webgpu` package is missing in
 * Node) and `backend: 'webgpu'` was requested. Use `backend: 'auto'` or `'cpu'` to run on the CPU.
 *
 * @example
 * ```ts
 * await quantizePerTensor(x, 0.1, 0, 'qint8', { backend: 'webgpu' }); // throws WebGpuUnavailableError without a GPU
 * ```
 */
export class WebGpuUnavailableError extends WebGpuQuantError {}

/**
 * A size exceeds what the device or the format can hold (a tensor larger than 2^32 elements, a buffer the
 * device cannot allocate).
 *
 * @example
 * ```ts
 * throw new LimitExceededError('tensor of 5e9 elements exceeds the 2^32 element limit; split it');
 * ```
 */
export class LimitExceededError extends WebGpuQuantError {}

/**
 * A file or serialized structure is malformed. Thrown by the readers in `io/`.
 *
 * @example
 * ```ts
 * throw new FormatError('model.safetensors: header length 9e15 exceeds the file size 1024');
 * ```
 */
export class FormatError extends WebGpuQuantError {}

/**
 * The GPU reported a validation or out-of-memory error while running a kernel. This is a bug in
 * webgpu-quant or a device too small for the request; the message carries the GPU's own text.
 *
 * @example
 * ```ts
 * throw new GpuExecutionError('quantize|qint8|perTensor: out of memory allocating 1 GiB');
 * ```
 */
export class GpuExecutionError extends WebGpuQuantError {}

/**
 * A CPU worker thread stopped before it answered (it crashed, ran out of memory, or was terminated), or could
 * not be started (its script is missing). Every call waiting on the pool rejects with it, the pool takes no
 * more work, and a compression writing through an atomic sink leaves no output file. Run again, with fewer
 * workers or more memory, or without a pool (one thread).
 *
 * @example
 * ```ts
 * try { await pool.run('quantizeWeight', [x, decision]); } catch (e) { if (e instanceof WorkerError) await pool.close(); }
 * ```
 */
export class WorkerError extends WebGpuQuantError {}

/**
 * A synchronous accessor was called on a QTensor whose integers are still on the GPU (quantized with
 * `{ output: 'gpu' }`), or on one whose GPU buffer was already released. Call `await q.read()` first.
 *
 * @example
 * ```ts
 * const q = await quantizePerTensor(x, 0.1, 0, 'qint8', { output: 'gpu' });
 * try { q.intRepr(); } catch (e) { if (e instanceof DataOnGpuError) (await q.read()).intRepr(); }
 * ```
 */
export class DataOnGpuError extends WebGpuQuantError {}

/**
 * An optional package a feature needs is not installed (onnxruntime-node for verification in Node). The
 * message gives the install command.
 *
 * @example
 * ```ts
 * throw new MissingDependencyError('onnxruntime-node', 'verify needs onnxruntime-node: npm install onnxruntime-node');
 * ```
 */
export class MissingDependencyError extends WebGpuQuantError {
  /** The npm package to install. */
  readonly packageName: string;
  constructor(packageName: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.packageName = packageName;
  }
}
