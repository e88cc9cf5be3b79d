// The benchmark's second reference: the simplest compute shader that moves the same bytes as a kernel,
// in the kernels' launch shape: VECS_PER_INVOCATION vec4<f32> (16 bytes each) read and written per
// invocation, strided by the whole dispatch (invocation t copies t, t + T, t + 2T, ...), so neighbouring
// invocations touch neighbouring memory. 16 per invocation measured 0-20 % faster than one on SwiftShader
// (docs/performance.md), so it is the stronger reference. Dispatches past the per-dimension limit are
// folded into 2-D exactly as the kernels' (shaders/common/indexing.wgsl).

override WORKGROUP_SIZE: u32 = 256;
override VECS_PER_INVOCATION: u32 = 16;

@group(0) @binding(0) var<storage, read> source: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> destination: array<vec4<f32>>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn copy_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let t = gid.x + gid.y * groups.x * WORKGROUP_SIZE;
  let count = arrayLength(&destination);
  let invocations = (count + VECS_PER_INVOCATION - 1u) / VECS_PER_INVOCATION;
  if (t >= invocations) { return; }
  for (var k = 0u; k < VECS_PER_INVOCATION; k++) {
    let i = t + k * invocations;
    if (i < count) { destination[i] = source[i]; }
  }
}
