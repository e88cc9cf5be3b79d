// Entry points of the quantize kernels, one per storage width (the dtype changes the code here only),
// plus fake_quantize (quantize then dequantize, float out). Each invocation converts VECS_PER_THREAD
// vecs, strided by the whole dispatch so neighbouring invocations touch neighbouring memory. A vec is
// what one output store writes: for the 8-bit types 16 elements (four vec4<f32> loads, one vec4<u32>
// store), for the 4-bit types 32 (eight loads, one store), for qint32 and fake_quantize 4 (one load, one
// store). Few, wide memory accesses and the small-range numerics (numerics.wgsl quantize_small) are what
// make the 8-bit and 4-bit kernels fast; see docs/performance.md. No workgroup memory, no barriers.
// Needs: numerics.wgsl, pack_*.wgsl (pack_bytes.wgsl included), indexing.wgsl, and a scheme file (per_tensor_params.wgsl or
// grouped_params.wgsl) declaring `params` (vec_count, thread_count, qmin, qmax), `Position`,
// `position_of`, `next_word`, `next4`, `params_at` and `quant_at`.

override WORKGROUP_SIZE: u32 = 256;
override VECS_PER_THREAD: u32 = 4;
// The dtype's signedness (qint8 vs quint8): picks the 8-bit packing.
override SIGNED: bool = true;
// Set by the host when some inv_scale exceeds 2^125 (numerics.wgsl quantize_small).
override EXACT_SUBNORMALS: bool = false;

@group(0) @binding(1) var<storage, read> input: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> output_wide: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> output_i32: array<vec4<i32>>;
@group(0) @binding(2) var<storage, read_write> output_f32: array<vec4<f32>>;

// Quantizes elements e..e+3 (e a multiple of 4, local to the chunk) with their parameters `p`.
fn quantize4_with(e: u32, p: Params4) -> vec4<f32> {
  return quantize_vec4(input[e / 4u], p.inv_scale, p.zero_point, params.qmin, params.qmax);
}

// Each invocation handles words first, first + stride, ... : it locates the first by division
// (position_of) and walks to the others (next_word).
fn first_word(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
  return linear_invocation(gid, groups, WORKGROUP_SIZE);
}

// Elements e..e+3 (e a multiple of 4, local to the chunk), starting at position `at`, as integers.
fn quantize_small4(e: u32, at: Position) -> vec4<i32> {
  return quantize_small(input[e / 4u], quant_at(at), EXACT_SUBNORMALS);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn quantize_8bit(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let first = first_word(gid, groups);
  var at = position_of(16u * first);
  for (var k = 0u; k < VECS_PER_THREAD; k++) {
    let v = first + k * params.thread_count;
    if (v >= params.vec_count) { return; }
    let e = 16u * v;
    let at1 = next4(at);
    let at2 = next4(at1);
    let at3 = next4(at2);
    output_wide[v] = vec4<u32>(pack_bytes(quantize_small4(e, at)), pack_bytes(quantize_small4(e + 4u, at1)),
      pack_bytes(quantize_small4(e + 8u, at2)), pack_bytes(quantize_small4(e + 12u, at3)));
    at = next_word(at);
  }
}

// Eight 4-bit values from position `at` on: one packed word.
fn quantize_nibbles(e: u32, at: Position) -> u32 {
  return pack_nibbles(quantize_small4(e, at), quantize_small4(e + 4u, next4(at)));
}

// Signed and unsigned 4-bit values pack the same way: the dtype changes only the clamp range (uniform).
@compute @workgroup_size(WORKGROUP_SIZE)
fn quantize_4bit(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let first = first_word(gid, groups);
  var at = position_of(32u * first);
  for (var k = 0u; k < VECS_PER_THREAD; k++) {
    let v = first + k * params.thread_count;
    if (v >= params.vec_count) { return; }
    let e = 32u * v;
    let at1 = next4(next4(at));
    let at2 = next4(next4(at1));
    let at3 = next4(next4(at2));
    output_wide[v] = vec4<u32>(quantize_nibbles(e, at), quantize_nibbles(e + 8u, at1),
      quantize_nibbles(e + 16u, at2), quantize_nibbles(e + 24u, at3));
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
