/**
 * Options every GPU kernel takes: chunking and dispatch folding, which tests force small.
 *
 * @example
 * ```ts
 * await quantizeKernel(manager, input, info, params, { maxChunkElements: 1024 } satisfies KernelOptions);
 * ```
 * @module
 */
/** Tuning and testing knobs shared by the GPU kernels. */
export interface KernelOptions {
  /** At most this many elements per dispatch (rounded down to whole words); tests force small chunks. */
  maxChunkElements?: number;
  /** Fold dispatches into 2-D past this many workgroups (default: the device limit); tests force the fold. */
  maxWorkgroupsPerDimension?: number;
}
