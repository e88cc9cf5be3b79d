// Entry points of the dequantize kernels, one per storage class. Reads 8-bit values packed 4 per u32
// or qint32 as vec4<i32>, writes vec4<f32>.
// Needs: numerics.wgsl, pack_*.wgsl, indexing.wgsl, and a kernel file that declares `params` (with
// vec_count, thread_count) and `fn dequantize4(q: vec4<i32>, v: u32) -> vec4<f32>`.

override WORKGROUP_SIZE: u32 = 256;
override VECS_PER_THREAD: u32 = 4;

@group(0) @binding(1) var<storage, read> input_packed: array<u32>;
@group(0) @binding(1) var<storage, read> input_i32: array<vec4<i32>>;
@group(0) @binding(2) var<storage, read_write> output: array<vec4<f32>>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn dequantize_i8(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let first = linear_invocation(gid, groups, WORKGROUP_SIZE);
  for (var k = 0u; k < VECS_PER_THREAD; k++) {
    let v = first + k * params.thread_count;
    if (v >= params.vec_count) { return; }
    output[v] = dequantize4(unpack_i8(input_packed[v]), v);
  }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn dequantize_u8(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let first = linear_invocation(gid, groups, WORKGROUP_SIZE);
  for (var k = 0u; k < VECS_PER_THREAD; k++) {
    let v = first + k * params.thread_count;
    if (v >= params.vec_count) { return; }
    output[v] = dequantize4(unpack_u8(input_packed[v]), v);
  }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn dequantize_i32(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let first = linear_invocation(gid, groups, WORKGROUP_SIZE);
  for (var k = 0u; k < VECS_PER_THREAD; k++) {
    let v = first + k * params.thread_count;
    if (v >= params.vec_count) { return; }
    output[v] = dequantize4(input_i32[v], v);
  }
}
