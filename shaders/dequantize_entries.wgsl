// Entry points of the dequantize kernels, one per storage width. A word is 4 elements (8-bit packed in a
// u32, qint32 as vec4<i32>) or 8 elements (4-bit packed in a u32); output is float32 vec4s.
// Needs: numerics.wgsl, pack_*.wgsl, indexing.wgsl, and a scheme file declaring `params` (vec_count,
// thread_count), `Position`, `position_of`, `next_word`, `next4` and `dequantize_at`.

override WORKGROUP_SIZE: u32 = 256;
override VECS_PER_THREAD: u32 = 4;
// The dtype's signedness: picks sign extension when unpacking 8-bit and 4-bit values.
override SIGNED: bool = true;

@group(0) @binding(1) var<storage, read> input_packed: array<u32>;
@group(0) @binding(1) var<storage, read> input_i32: array<vec4<i32>>;
@group(0) @binding(2) var<storage, read_write> output: array<vec4<f32>>;

fn first_word(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
  return linear_invocation(gid, groups, WORKGROUP_SIZE);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn dequantize_8bit(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let first = first_word(gid, groups);
  var at = position_of(4u * first);
  for (var k = 0u; k < VECS_PER_THREAD; k++) {
    let v = first + k * params.thread_count;
    if (v >= params.vec_count) { return; }
    let w = input_packed[v];
    output[v] = dequantize_at(select(unpack_u8(w), unpack_i8(w), SIGNED), at);
    at = next_word(at);
  }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn dequantize_4bit(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let first = first_word(gid, groups);
  var at = position_of(8u * first);
  for (var k = 0u; k < VECS_PER_THREAD; k++) {
    let v = first + k * params.thread_count;
    if (v >= params.vec_count) { return; }
    let w = input_packed[v];
    output[2u * v] = dequantize_at(select(unpack_u4(w, 0u), unpack_i4(w, 0u), SIGNED), at);
    output[2u * v + 1u] = dequantize_at(select(unpack_u4(w, 1u), unpack_i4(w, 1u), SIGNED), next4(at));
    at = next_word(at);
  }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn dequantize_i32(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let first = first_word(gid, groups);
  var at = position_of(4u * first);
  for (var k = 0u; k < VECS_PER_THREAD; k++) {
    let v = first + k * params.thread_count;
    if (v >= params.vec_count) { return; }
    output[v] = dequantize_at(input_i32[v], at);
    at = next_word(at);
  }
}
