/**
 * Compute pipelines and shader modules, cached per device by a key that names only what changes the code
 * (kernel, entry point, workgroup size, pack variant), never the tensor's shape: shapes travel in uniforms,
 * so one pipeline serves every size.
 *
 * @example
 * ```ts
 * const cache = new PipelineCache(device);
 * const pipeline = cache.get('quantize|perTensor|qint8|wg256|v4|packBuiltin', { code, entryPoint: 'quantize_i8',
 *   constants: { WORKGROUP_SIZE: 256, VECS_PER_THREAD: 4 } });
 * ```
 * @module
 */

/** What it takes to build a pipeline the first time its key is seen. */
export interface PipelineSpec {
  code: string;
  entryPoint: string;
  constants: Record<string, number>;
}

/** See the module documentation. */
export class PipelineCache {
  readonly #device: GPUDevice;
  readonly #modules = new Map<string, GPUShaderModule>();
  readonly #pipelines = new Map<string, GPUComputePipeline>();
  #misses = 0;

  constructor(device: GPUDevice) { this.#device = device; }

  /** The pipeline for `key`, built from `spec` on first use. `key` must determine `spec` completely. */
  get(key: string, spec: PipelineSpec): GPUComputePipeline {
    let pipeline = this.#pipelines.get(key);
    if (pipeline) return pipeline;
    let module = this.#modules.get(spec.code);
    if (!module) {
      module = this.#device.createShaderModule({ code: spec.code, label: `${key}.module` });
      this.#modules.set(spec.code, module);
    }
    pipeline = this.#device.createComputePipeline({
      label: `${key}.pipeline`,
      layout: 'auto',
      compute: { module, entryPoint: spec.entryPoint, constants: spec.constants },
    });
    this.#pipelines.set(key, pipeline);
    this.#misses++;
    return pipeline;
  }

  /** How many pipelines were built (cache misses); a test checks repeated calls add none. */
  get size(): number { return this.#misses; }

  /**
   * The keys of the pipelines built so far, in build order: which kernel variants ran (tests check that
   * the stationary kernels serve the layouts they should).
   *
   * @example
   * ```ts
   * manager.pipelines.keys().some((key) => key.includes('|stationary|')); // true after such a call
   * ```
   */
  keys(): string[] { return [...this.#pipelines.keys()]; }
}
