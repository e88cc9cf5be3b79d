// The benchmark's reference for the reductions (min/max, error statistics): the simplest compute shader
// that reads the same bytes once, one vec4<f32> (16 bytes) at a time, and writes almost nothing. Invocation
// i reads vec4s i, i + T, i + 2T, ... (T invocations in all, VECS_PER_INVOCATION each), so neighbouring
// invocations read neighbouring vec4s at every step, as the reductions' first passes do; it keeps their
// max, so no read can be optimised away, and writes one f32: 4 bytes per 16 * VECS_PER_INVOCATION read.
// Dispatches past the per-dimension limit are folded into 2-D as in copy-vec4.wgsl.

override WORKGROUP_SIZE: u32 = 64;
override VECS_PER_INVOCATION: u32 = 16;

@group(0) @binding(0) var<storage, read> source: array<vec4<f32>>;
// One f32 per invocation; its length is T.
@group(0) @binding(1) var<storage, read_write> destination: array<f32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn read_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = gid.x + gid.y * groups.x * WORKGROUP_SIZE;
  let invocations = arrayLength(&destination);
  if (i >= invocations) { return; }
  let count = arrayLength(&source);
  var largest = vec4<f32>(bitcast<f32>(0xff7fffffu)); // the lowest finite f32
  for (var k = 0u; k < VECS_PER_INVOCATION; k++) {
    let j = i + k * invocations;
    if (j < count) { largest = max(largest, source[j]); }
  }
  destination[i] = max(max(largest.x, largest.y), max(largest.z, largest.w));
}
