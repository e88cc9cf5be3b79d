/**
 * Launch shape of the elementwise kernels: invocations per workgroup and groups of 4 elements per
 * invocation. Passed to the shaders as `override` constants and part of every pipeline key.
 * @module
 */

/** Invocations per workgroup (`override WORKGROUP_SIZE`). */
export const WORKGROUP_SIZE = 256;
/** Groups of 4 elements each invocation converts (`override VECS_PER_THREAD`). */
export const VECS_PER_THREAD = 4;
