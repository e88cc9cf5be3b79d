/**
 * Backend selection shared by every public operation. 'auto' (the default) runs on WebGPU when an adapter
 * exists (in Node: a hardware adapter through the optional `webgpu` package) and on the CPU reference
 * otherwise; 'webgpu' never falls back; 'cpu' never touches the GPU. Results carry a `backend` field that
 * says which ran.
 *
 * @example
 * ```ts
 * import { getBackend } from 'webgpu-quant';
 * await getBackend();                      // 'webgpu' in Chrome with WebGPU, else 'cpu'
 * await getBackend({ backend: 'cpu' });    // 'cpu'
 * ```
 * @module
 */
import { InvalidArgumentError, WebGpuUnavailableError } from '../errors.js';
import { type GpuManager, getDefaultManager, managerForDevice, runningInNode } from '../gpu/device.js';
import type { KernelOptions } from '../kernels/common/kernel-options.js';
import type { ResolvedBackend } from '../tensor.js';

/** Which backend to run on. */
export type Backend = 'auto' | 'webgpu' | 'cpu';

/** Options every operation takes. */
export interface OpOptions extends KernelOptions {
  /** 'auto' (default): WebGPU when available, else CPU. 'webgpu': WebGPU or an error. 'cpu': the CPU kernels (WebAssembly SIMD where the engine has it, else the reference; the same bits either way). */
  backend?: Backend;
  /** Run on this device (the caller's: never destroyed by the library). Implies WebGPU unless backend is 'cpu'. */
  device?: GPUDevice;
}

const kBackends: readonly Backend[] = ['auto', 'webgpu', 'cpu'];

/** A value as a message shows it: strings quoted, everything else as String() gives it. */
function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/**
 * Checks an options argument as every operation does (InvalidArgumentError naming the bad option) and returns its
 * backend, without acquiring a device.
 *
 * @example
 * ```ts
 * checkOpOptions({ backend: 'auto' }); // 'auto'
 * checkOpOptions({ backend: 'tpu' as never }); // throws InvalidArgumentError naming options.backend
 * ```
 */
export function checkOpOptions(options: OpOptions | undefined): Backend {
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw new InvalidArgumentError('options', options, `options must be an object like { backend: "auto" }, got ${describe(options)}`);
  }
  const backend = options?.backend ?? 'auto';
  if (!kBackends.includes(backend)) {
    throw new InvalidArgumentError('options.backend', backend,
      `options.backend is ${describe(backend)}; use one of ${kBackends.join(', ')}`);
  }
  const chunk = options?.maxChunkElements;
  if (chunk !== undefined && (!Number.isInteger(chunk) || chunk < 4)) {
    throw new InvalidArgumentError('options.maxChunkElements', chunk,
      `options.maxChunkElements is ${describe(chunk)}; use an integer >= 4`);
  }
  const fold = options?.maxWorkgroupsPerDimension;
  if (fold !== undefined && (!Number.isInteger(fold) || fold < 1)) {
    throw new InvalidArgumentError('options.maxWorkgroupsPerDimension', fold,
      `options.maxWorkgroupsPerDimension is ${describe(fold)}; use an integer >= 1`);
  }
  return backend;
}

/** Checks an options argument and returns the manager to run on, or undefined for the CPU. */
export async function selectManager(options: OpOptions | undefined): Promise<GpuManager | undefined> {
  const backend = checkOpOptions(options);
  if (backend === 'cpu') return undefined;
  if (options?.device !== undefined) return managerForDevice(options.device);
  if (backend === 'webgpu') return getDefaultManager();
  try {
    // In Node, 'auto' wants real hardware: software adapters there are slower than the CPU path.
    return await getDefaultManager({ requireHardware: runningInNode() });
  } catch (error) {
    if (error instanceof WebGpuUnavailableError) return undefined;
    throw error;
  }
}

/**
 * Says which backend an operation with these options would run on, acquiring the GPU if needed.
 *
 * @example
 * ```ts
 * if (await getBackend() === 'cpu') console.warn('no WebGPU: running on the CPU');
 * ```
 */
export async function getBackend(options?: OpOptions): Promise<ResolvedBackend> {
  return (await selectManager(options)) ? 'webgpu' : 'cpu';
}
