/**
 * Launch shape of the elementwise kernels: invocations per workgroup and vecs per invocation. Passed to the shaders as `override` constants and part of every pipeline key.
 * @module
 */

/** Invocations per workgroup (`override WORKGROUP_SIZE`). */
export const WORKGROUP_SIZE = 256;
/**
 * Vecs each invocation converts (`override VECS_PER_THREAD`; a vec is 4 to 32 elements, see
 * run-chunked.ts). 16 measured best on SwiftShader (per-invocation overhead; docs/performance.md) and
 * leaves 64K invocations for 16M 8-bit elements.
 */
export const VECS_PER_THREAD = 16;
