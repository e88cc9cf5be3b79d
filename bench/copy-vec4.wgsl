// The benchmark's second reference: the simplest compute shader that moves the same bytes as a kernel,
// one vec4<f32> (16 bytes) read and written per invocation. Dispatches past the per-dimension limit are
// folded into 2-D exactly as the kernels' (shaders/indexing.wgsl).

override WORKGROUP_SIZE: u32 = 256;

@group(0) @binding(0) var<storage, read> source: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> destination: array<vec4<f32>>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn copy_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = gid.x + gid.y * groups.x * WORKGROUP_SIZE;
  if (i < arrayLength(&destination)) { destination[i] = source[i]; }
}
