// Entry points of the dequantize kernels, one per storage width. A vec is what one input load reads: a
// vec4<u32> of 16 8-bit or 32 4-bit elements (then four or eight vec4<f32> stores), or a vec4<i32> of 4
// qint32 elements.
// Needs: numerics.wgsl, pack_*.wgsl, indexing.wgsl, and a scheme file declaring `params` (vec_count,
// thread_count), `Position`, `position_of`, `next_word`, `next4` and `dequantize_at` and `dequantize_small_at`.

override WORKGROUP_SIZE: u32 = 256;
override VECS_PER_THREAD: u32 = 4;
// The dtype's signedness: picks sign extension when unpacking 8-bit and 4-bit values.
override SIGNED: bool = true;

@group(0) @binding(1) var<storage, read> input_wide: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> input_i32: array<vec4<i32>>;
@group(0) @binding(2) var<storage, read_write> output: array<vec4<f32>>;

fn first_word(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
  return linear_invocation(gid, groups, WORKGROUP_SIZE);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn dequantize_8bit(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let first = first_word(gid, groups);
  var at = position_of(16u * first);
  for (var k = 0u; k < VECS_PER_THREAD; k++) {
    let v = first + k * params.thread_count;
    if (v >= params.vec_count) { return; }
    let w = input_wide[v];
    let at1 = next4(at);
    let at2 = next4(at1);
    let at3 = next4(at2);
    output[4u * v] = dequantize_small_at(unpack_bytes(w.x), at);
    output[4u * v + 1u] = dequantize_small_at(unpack_bytes(w.y), at1);
    output[4u * v + 2u] = dequantize_small_at(unpack_bytes(w.z), at2);
    output[4u * v + 3u] = dequantize_small_at(unpack_bytes(w.w), at3);
    at = next_word(at);
  }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn dequantize_4bit(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let first = first_word(gid, groups);
  var at = position_of(32u * first);
  for (var k = 0u; k < VECS_PER_THREAD; k++) {
    let v = first + k * params.thread_count;
    if (v >= params.vec_count) { return; }
    let w = input_wide[v];
    var p = at;
    for (var j = 0u; j < 4u; j++) {
      let p1 = next4(p);
      output[8u * v + 2u * j] = dequantize_small_at(unpack_nibbles(w[j], 0u), p);
      output[8u * v + 2u * j + 1u] = dequantize_small_at(unpack_nibbles(w[j], 1u), p1);
      p = next4(p1);
    }
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
