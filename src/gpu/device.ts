/**
 * The device manager: the only code that touches `navigator.gpu` (or the optional `webgpu` package in
 * Node). It owns or borrows one GPUDevice, with that device's buffer pool and pipeline cache, and turns
 * device loss into a {@link DeviceLostError}. The library-owned default manager is replaced by a fresh one
 * on the next call after a loss; a borrowed device stays lost (the caller owns it).
 *
 * @example
 * ```ts
 * import { GpuManager } from 'webgpu-quant';
 * const gpu = await GpuManager.create();          // owns its device
 * const q = await quantizePerTensor(x, 0.1, 0, 'qint8', { device: gpu.device });
 * gpu.destroy();
 * const borrowed = GpuManager.fromDevice(myDevice); // never destroys myDevice
 * ```
 * @module
 */
import { DeviceLostError, InvalidArgumentError, WebGpuUnavailableError } from '../errors.js';
import { BufferPool, type BufferPoolStats } from './buffer-pool.js';
import { PipelineCache } from './pipeline-cache.js';

/** What the kernels need to know about the device beyond its limits. */
export interface GpuFeatures {
  /** WGSL `packed_4x8_integer_dot_product` (unpack4xI8 and friends). */
  packed4x8: boolean;
  timestampQuery: boolean;
  subgroups: boolean;
}

/** Options of {@link GpuManager.create}. */
export interface GpuManagerOptions {
  powerPreference?: GPUPowerPreference;
  /** In 'auto' selection, refuse software adapters (SwiftShader, WARP, llvmpipe). */
  requireHardware?: boolean;
}

const kSoftwareAdapter = /swiftshader|llvmpipe|lavapipe|warp|software/i;

/**
 * True in Node (and not in a browser page). Read through globalThis so the browser build needs no Node types.
 *
 * @example
 * ```ts
 * runningInNode(); // true under `node`, false in Chrome
 * ```
 */
export function runningInNode(): boolean {
  // Node >= 21 defines a global `navigator` (without `gpu`), so test for a DOM window instead.
  const scope = globalThis as { process?: { versions?: { node?: string } }; window?: unknown };
  return typeof scope.process?.versions?.node === 'string' && scope.window === undefined;
}

/**
 * The Dawn instance made in Node, held for the life of the process: Dawn keeps processing the instance's events
 * after the last JS reference to it is gone, so an instance the garbage collector frees takes the process down
 * (a crash in `InstanceBase::ProcessEvents` on a busy compression). One instance serves every device.
 */
let dawnGpu: Promise<GPU | undefined> | undefined;

/** Finds a `GPU` object: `navigator.gpu` in browsers, the optional `webgpu` package in Node. */
async function findGpu(): Promise<GPU | undefined> {
  if (typeof navigator !== 'undefined' && navigator.gpu) return navigator.gpu;
  if (!runningInNode()) return undefined;
  return dawnGpu ??= createDawnGpu();
}

/** Loads the `webgpu` package (or the module `globalThis.WEBGPU_QUANT_DAWN_MODULE` names) and makes its instance. */
async function createDawnGpu(): Promise<GPU | undefined> {
  try {
    // Not a literal: bundlers must leave this import alone (the browser build never takes this path).
    // globalThis.WEBGPU_QUANT_DAWN_MODULE may name another Dawn binding than the `webgpu` package.
    const moduleName = (globalThis as { WEBGPU_QUANT_DAWN_MODULE?: string }).WEBGPU_QUANT_DAWN_MODULE ?? 'webgpu';
    const dawn = await import(/* @vite-ignore */ moduleName) as { create: (flags: string[]) => GPU; globals: object };
    Object.assign(globalThis, dawn.globals);
    return dawn.create([]);
  } catch {
    return undefined;
  }
}

/** True when `info` describes a software rasterizer rather than a GPU. */
export function isSoftwareAdapter(info: GPUAdapterInfo): boolean {
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`;
  return kSoftwareAdapter.test(text) || (info as { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
}

/** See the module documentation. */
export class GpuManager {
  readonly #device: GPUDevice;
  /** True when this manager created the device and so may destroy it. */
  readonly owned: boolean;
  readonly adapterInfo: GPUAdapterInfo | undefined;
  readonly features: GpuFeatures;
  readonly pool: BufferPool;
  readonly pipelines: PipelineCache;
  /**
   * Whether big weights go up through pooled staging buffers rather than writeBuffer (src/gpu/staged-upload.ts):
   * true in Node, where Dawn runs in this process and a mapping is its staging memory itself; false in a browser,
   * where a mapping is shared memory the GPU process copies from, one round trip more than writeBuffer. Either
   * way the device gets the same bytes; a test may turn it on to run that path in a browser.
   */
  stagedUploads: boolean = runningInNode();
  /**
   * Whether per-channel and per-group calls with many parameter rows build their parameter table on the
   * device (src/kernels/elementwise/param-table-kernel.ts) rather than on the host: true on a GPU, where the
   * pass costs microseconds and the host saves a loop over the rows and half the upload; false on a software
   * adapter (SwiftShader), which runs that pass on the same CPU cores, slower than the host's loop. Either way
   * the table has the same bits; a test may turn it on to run that path on a software adapter.
   */
  deviceTables: boolean;
  #lostReason: string | undefined;
  #lostMessage = '';
  readonly #lostPromise: Promise<void>;

  private constructor(device: GPUDevice, owned: boolean, packed4x8: boolean, adapterInfo?: GPUAdapterInfo) {
    this.#device = device;
    this.owned = owned;
    this.adapterInfo = adapterInfo ?? (device as { adapterInfo?: GPUAdapterInfo }).adapterInfo;
    this.deviceTables = !(this.adapterInfo && isSoftwareAdapter(this.adapterInfo));
    this.features = {
      packed4x8,
      timestampQuery: device.features.has('timestamp-query'),
      subgroups: device.features.has('subgroups'),
    };
    this.pool = new BufferPool(device);
    this.pipelines = new PipelineCache(device);
    this.#lostPromise = device.lost.then((info) => {
      this.#lostReason = info.reason ?? 'unknown';
      this.#lostMessage = info.message;
    });
    if (owned) {
      device.addEventListener('uncapturederror', (event) => {
        // Kernels run inside error scopes; anything reaching here escaped them and is a bug worth seeing.
        console.error(`webgpu-quant: uncaptured GPU error: ${(event as GPUUncapturedErrorEvent).error.message}`);
      });
    }
  }

  /**
   * Requests an adapter and a device with the adapter's largest buffer limits.
   * Throws {@link WebGpuUnavailableError} when there is no WebGPU or no (suitable) adapter.
   */
  static async create(options: GpuManagerOptions = {}): Promise<GpuManager> {
    const gpu = await findGpu();
    if (!gpu) {
      throw new WebGpuUnavailableError('WebGPU is not available here: no navigator.gpu (a browser needs a secure context '
        + 'such as https or localhost), and in Node the optional "webgpu" package is not installed; use backend "cpu"');
    }
    const adapter = await gpu.requestAdapter(options.powerPreference ? { powerPreference: options.powerPreference } : undefined);
    if (!adapter) {
      throw new WebGpuUnavailableError('WebGPU found no adapter (GPU blocked or unsupported); use backend "cpu"');
    }
    if (options.requireHardware && isSoftwareAdapter(adapter.info)) {
      throw new WebGpuUnavailableError(`the only WebGPU adapter is a software one (${adapter.info.description || adapter.info.vendor}); `
        + 'use backend "webgpu" to run on it anyway, or "cpu"');
    }
    const wanted: GPUFeatureName[] = ['timestamp-query', 'subgroups'];
    const requiredFeatures = wanted.filter((f) => adapter.features.has(f));
    const device = await adapter.requestDevice({
      label: 'webgpu-quant.device',
      requiredFeatures,
      requiredLimits: {
        maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
        maxBufferSize: adapter.limits.maxBufferSize,
      },
    });
    const packed4x8 = gpu.wgslLanguageFeatures?.has('packed_4x8_integer_dot_product') ?? false;
    const manager = new GpuManager(device, true, packed4x8, adapter.info);
    managersByDevice.set(device, manager);
    return manager;
  }

  /**
   * Wraps a device the caller owns. The manager never destroys it. `packed4x8` says whether the WGSL
   * packed-integer built-ins may be used; by default they are when `navigator.gpu` advertises them.
   */
  static fromDevice(device: GPUDevice, packed4x8?: boolean): GpuManager {
    if (device === null || typeof device !== 'object' || typeof (device as GPUDevice).createBuffer !== 'function') {
      throw new InvalidArgumentError('device', device, 'device must be a GPUDevice');
    }
    const advertised = typeof navigator !== 'undefined'
      && (navigator.gpu?.wgslLanguageFeatures?.has('packed_4x8_integer_dot_product') ?? false);
    return new GpuManager(device, false, packed4x8 ?? advertised);
  }

  /** The device; throws {@link DeviceLostError} once it is lost. */
  get device(): GPUDevice {
    this.throwIfLost();
    return this.#device;
  }

  /** True once the device is lost (or destroyed). */
  get lost(): boolean { return this.#lostReason !== undefined; }

  /** Throws {@link DeviceLostError} when the device is lost. */
  throwIfLost(): void {
    if (this.#lostReason !== undefined) {
      throw new DeviceLostError(`the GPU device was lost (${this.#lostReason}${this.#lostMessage ? `: ${this.#lostMessage}` : ''}); `
        + (this.owned ? 'the next call acquires a new device' : 'the device belongs to the caller: create a new one'),
      this.#lostReason);
    }
  }

  /**
   * After a failure, decides whether the device loss caused it: waits briefly for `device.lost` (which
   * resolves asynchronously after a destroy) and throws {@link DeviceLostError} if so; else returns.
   */
  async throwIfLostAfterFailure(cause: unknown): Promise<void> {
    if (this.#lostReason === undefined) {
      await Promise.race([this.#lostPromise, new Promise((resolve) => setTimeout(resolve, 100))]);
    }
    if (this.#lostReason !== undefined) {
      try { this.throwIfLost(); } catch (error) { (error as Error & { cause?: unknown }).cause = cause; throw error; }
    }
  }

  /** Buffer pool counters (see {@link BufferPoolStats}). */
  stats(): BufferPoolStats { return this.pool.stats(); }

  /** Frees pooled buffers and, when this manager created the device, destroys it. */
  destroy(): void {
    this.pool.trim();
    if (this.owned) this.#device.destroy();
  }
}

/** The library-owned manager, once created and until its device is lost. */
let defaultManager: GpuManager | undefined;
/** The one acquisition in flight, shared by every caller that arrives while it runs. */
let acquiring: Promise<GpuManager> | undefined;
const managersByDevice = new WeakMap<GPUDevice, GpuManager>();

/**
 * The library-owned manager used when no `device` option is given. Created on first use, and created
 * again on the next call after its device was lost. However many calls arrive while a device is being
 * acquired (at first use, or after a loss), they share one acquisition: one `requestDevice`, one device.
 * A failed acquisition rejects every caller that shared it; the next call tries again.
 *
 * @example
 * ```ts
 * const gpu = await getDefaultManager();
 * gpu.adapterInfo?.description; // e.g. 'SwiftShader Device (Subzero)'
 * ```
 */
export function getDefaultManager(options: GpuManagerOptions = {}): Promise<GpuManager> {
  // Synchronous from the check to the assignment, so no two callers can both start an acquisition.
  if (defaultManager !== undefined && !defaultManager.lost) return Promise.resolve(defaultManager);
  acquiring ??= GpuManager.create(options).then(
    (manager) => {
      defaultManager = manager;
      acquiring = undefined;
      return manager;
    },
    (error: unknown) => {
      acquiring = undefined;
      throw error;
    },
  );
  return acquiring;
}

/**
 * The manager for a device: the one that created it, else a borrowing one made on first use. Kept in a
 * WeakMap, so a dropped device frees its manager, pool and pipelines.
 *
 * @example
 * ```ts
 * const gpu = managerForDevice(device); gpu.stats().inUse; // 0
 * ```
 */
export function managerForDevice(device: GPUDevice): GpuManager {
  let manager = managersByDevice.get(device);
  if (!manager) {
    manager = GpuManager.fromDevice(device);
    managersByDevice.set(device, manager);
  }
  return manager;
}
