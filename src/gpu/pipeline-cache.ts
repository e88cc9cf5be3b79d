/**
 * Compute pipelines and shader modules, cached per device. The cache derives each pipeline's key itself
 * from what changes the code: the WGSL source, the entry point and the override constants (sorted by name).
 * Shapes travel in uniforms, never in the key, so one pipeline serves every size. The label only names the
 * GPU objects; it never splits or merges cache entries.
 *
 * @example
 * ```ts
 * const cache = new PipelineCache(device);
 * const pipeline = cache.get({ label: 'quantize|grouped|qint8', code, entryPoint: 'quantize_8bit',
 *   constants: { WORKGROUP_SIZE: 256, VECS_PER_THREAD: 4, SIGNED: 1 } });
 * cache.get({ ...sameSpec, label: 'another name' }) === pipeline; // true: same source, entry point, constants
 * ```
 * @module
 */

/** Everything that builds a pipeline: the code, its entry point and override constants, and a label. */
export interface PipelineSpec {
  /** Names the kernel and its variant in GPU object labels, e.g. 'quantize|stationary|qint8|runs'. */
  readonly label: string;
  readonly code: string;
  readonly entryPoint: string;
  readonly constants: Readonly<Record<string, number>>;
}

/** A pipeline that was built: its spec's label, entry point and constants, and the key the cache derived. */
export interface BuiltPipeline {
  readonly label: string;
  readonly entryPoint: string;
  readonly constants: Readonly<Record<string, number>>;
  /** `entryPoint` and the sorted constants; the cache keys it per shader source. */
  readonly key: string;
}

/**
 * The part of a pipeline's key that a shader source does not fix: the entry point and the override
 * constants in name order, so the order a caller wrote them in never makes a second pipeline.
 *
 * @example
 * ```ts
 * entryKey('quantize_8bit', { WORKGROUP_SIZE: 256, SIGNED: 1 }); // 'quantize_8bit(SIGNED=1,WORKGROUP_SIZE=256)'
 * ```
 */
export function entryKey(entryPoint: string, constants: Readonly<Record<string, number>>): string {
  const sorted = Object.keys(constants).sort().map((name) => `${name}=${constants[name]}`);
  return `${entryPoint}(${sorted.join(',')})`;
}

/** See the module documentation. */
export class PipelineCache {
  readonly #device: GPUDevice;
  /** Per shader source: its module and its pipelines by entry key. */
  readonly #bySource = new Map<string, { module: GPUShaderModule; pipelines: Map<string, GPUComputePipeline> }>();
  readonly #built: BuiltPipeline[] = [];

  constructor(device: GPUDevice) { this.#device = device; }

  /** The pipeline of `spec`, built on first use. */
  get(spec: PipelineSpec): GPUComputePipeline {
    let source = this.#bySource.get(spec.code);
    if (!source) {
      source = { module: this.#device.createShaderModule({ code: spec.code, label: `${spec.label}.module` }), pipelines: new Map() };
      this.#bySource.set(spec.code, source);
    }
    const key = entryKey(spec.entryPoint, spec.constants);
    let pipeline = source.pipelines.get(key);
    if (pipeline) return pipeline;
    pipeline = this.#device.createComputePipeline({
      label: `${spec.label}.pipeline`,
      layout: 'auto',
      compute: { module: source.module, entryPoint: spec.entryPoint, constants: { ...spec.constants } },
    });
    source.pipelines.set(key, pipeline);
    this.#built.push(Object.freeze({ label: spec.label, entryPoint: spec.entryPoint, constants: Object.freeze({ ...spec.constants }), key }));
    return pipeline;
  }

  /** How many pipelines were built (cache misses); a test checks repeated calls add none. */
  get size(): number { return this.#built.length; }

  /**
   * The pipelines built so far, in build order: which kernel variants ran (tests check that the stationary
   * kernels serve the layouts they should).
   *
   * @example
   * ```ts
   * manager.pipelines.built().some((p) => p.label.startsWith('quantize|stationary|')); // true after such a call
   * ```
   */
  built(): readonly BuiltPipeline[] { return [...this.#built]; }
}
