// Entry points of the quantize kernels, one per storage width (the dtype changes the code here only),
// plus fake_quantize (quantize then dequantize, float out). Each invocation converts VECS_PER_THREAD
// words of output, strided by the whole dispatch so neighbouring invocations touch neighbouring memory:
// a word is 4 elements (8-bit types packed 4 per u32; qint32 and float32 as vec4) or 8 elements (4-bit
// types packed 8 per u32). No workgroup memory, no barriers.
// Needs: numerics.wgsl, pack_*.wgsl, indexing.wgsl, and a scheme file (per_tensor_params.wgsl or
// grouped_params.wgsl) declaring `params` (vec_count, thread_count, qmin, qmax), `Position`,
// `position_of`, `next_word`, `next4` and `params_at`.

override WORKGROUP_SIZE: u32 = 256;
override VECS_PER_THREAD: u32 = 4;
// The dtype's signedness (qint8 vs quint8): picks the 8-bit packing.
override SIGNED: bool = true;

@group(0) @binding(1) var<storage, read> input: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> output_packed: array<u32>;
@group(0) @binding(2) var<storage, read_write> output_i32: array<vec4<i32>>;
@group(0) @binding(2) var<storage, read_write> output_f32: array<vec4<f32>>;

// Quantizes elements e..e+3 (e a multiple of 4, local to the chunk) with their parameters `p`.
fn quantize4_with(e: u32, p: Params4) -> vec4<f32> {
  return quantize_vec4(input[e / 4u], p.inv_scale, p.zero_point, params.qmin, params.qmax);
}

fn quantize4(e: u32, at: Position) -> vec4<i32> {
  return vec4<i32>(quantize4_with(e, params_at(at)));
}

// Each invocation handles words first, first + stride, ... : it locates the first by division
// (position_of) and walks to the others (next_word).
fn first_word(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
  return linear_invocation(gid, groups, WORKGROUP_SIZE);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn quantize_8bit(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let first = first_word(gid, groups);
  var at = position_of(4u * first);
  for (var k = 0u; k < VECS_PER_THREAD; k++) {
    let v = first + k * params.thread_count;
    if (v >= params.vec_count) { return; }
    let q = quantize4(4u * v, at);
    output_packed[v] = select(pack_u8(q), pack_i8(q), SIGNED);
    at = next_word(at);
  }
}

// Signed and unsigned 4-bit values pack the same way: the dtype changes only the clamp range (uniform).
@compute @workgroup_size(WORKGROUP_SIZE)
fn quantize_4bit(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let first = first_word(gid, groups);
  var at = position_of(8u * first);
  for (var k = 0u; k < VECS_PER_THREAD; k++) {
    let v = first + k * params.thread_count;
    if (v >= params.vec_count) { return; }
    output_packed[v] = pack_nibbles(quantize4(8u * v, at), quantize4(8u * v + 4u, next4(at)));
    at = next_word(at);
  }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn quantize_i32(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let first = first_word(gid, groups);
  var at = position_of(4u * first);
  for (var k = 0u; k < VECS_PER_THREAD; k++) {
    let v = first + k * params.thread_count;
    if (v >= params.vec_count) { return; }
    let q = quantize4_with(4u * v, params_at(at));
    output_i32[v] = vec4<i32>(to_i32_saturated(q.x), to_i32_saturated(q.y), to_i32_saturated(q.z), to_i32_saturated(q.w));
    at = next_word(at);
  }
}

// Fake quantization (PyTorch fake_quantize_*_affine): y = (q - zero_point) * scale in float32, with q
// clamped to the uniform's [qmin, qmax] = [quant_min, quant_max].
@compute @workgroup_size(WORKGROUP_SIZE)
fn fake_quantize(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let first = first_word(gid, groups);
  var at = position_of(4u * first);
  for (var k = 0u; k < VECS_PER_THREAD; k++) {
    let v = first + k * params.thread_count;
    if (v >= params.vec_count) { return; }
    let p = params_at(at);
    output_f32[v] = (quantize4_with(4u * v, p) - p.zero_point) * p.scale;
    at = next_word(at);
  }
}
