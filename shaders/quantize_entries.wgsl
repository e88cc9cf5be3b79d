// Entry points of the quantize kernels, one per storage class (the dtype changes the code here only).
// Each invocation converts VECS_PER_THREAD groups of 4 elements, strided by the whole dispatch so that
// neighbouring invocations touch neighbouring memory. 8-bit results are packed 4 per u32, qint32 results
// written as vec4<i32>. No workgroup memory, no barriers.
// Needs: numerics.wgsl, pack_*.wgsl, indexing.wgsl, and a kernel file that declares `params` (with
// vec_count, thread_count, qmin, qmax) and `fn quantize4(v: u32) -> vec4<f32>` returning integer-valued
// floats already clamped to [qmin, qmax].

override WORKGROUP_SIZE: u32 = 256;
override VECS_PER_THREAD: u32 = 4;

@group(0) @binding(2) var<storage, read_write> output_packed: array<u32>;
@group(0) @binding(2) var<storage, read_write> output_i32: array<vec4<i32>>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn quantize_i8(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let first = linear_invocation(gid, groups, WORKGROUP_SIZE);
  for (var k = 0u; k < VECS_PER_THREAD; k++) {
    let v = first + k * params.thread_count;
    if (v >= params.vec_count) { return; }
    output_packed[v] = pack_i8(vec4<i32>(quantize4(v)));
  }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn quantize_u8(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let first = linear_invocation(gid, groups, WORKGROUP_SIZE);
  for (var k = 0u; k < VECS_PER_THREAD; k++) {
    let v = first + k * params.thread_count;
    if (v >= params.vec_count) { return; }
    output_packed[v] = pack_u8(vec4<i32>(quantize4(v)));
  }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn quantize_i32(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let first = linear_invocation(gid, groups, WORKGROUP_SIZE);
  for (var k = 0u; k < VECS_PER_THREAD; k++) {
    let v = first + k * params.thread_count;
    if (v >= params.vec_count) { return; }
    let q = quantize4(v);
    output_i32[v] = vec4<i32>(to_i32_saturated(q.x), to_i32_saturated(q.y), to_i32_saturated(q.z), to_i32_saturated(q.w));
  }
}
