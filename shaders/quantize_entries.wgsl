// Entry points of the quantize kernels, one per storage class (the dtype changes the code here only),
// plus fake_quantize (quantize then dequantize, float out). Each invocation converts VECS_PER_THREAD
// words of output, strided by the whole dispatch so neighbouring invocations touch neighbouring memory:
// a word is 4 elements (8-bit types packed 4 per u32; qint32 and float32 as vec4) or 8 elements (4-bit
// types packed 8 per u32). No workgroup memory, no barriers.
// Needs: numerics.wgsl, pack_*.wgsl, indexing.wgsl, and a scheme file (per_tensor_params.wgsl or
// grouped_params.wgsl) declaring `params` (vec_count, thread_count, qmin, qmax) and `params4`.

override WORKGROUP_SIZE: u32 = 256;
override VECS_PER_THREAD: u32 = 4;

@group(0) @binding(1) var<storage, read> input: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> output_packed: array<u32>;
@group(0) @binding(2) var<storage, read_write> output_i32: array<vec4<i32>>;
@group(0) @binding(2) var<storage, read_write> output_f32: array<vec4<f32>>;

// Quantizes elements e..e+3 (e a multiple of 4, local to the chunk) with their parameters `p`.
fn quantize4_with(e: u32, p: mat4x4<f32>) -> vec4<f32> {
  let x = input[e / 4u];
  return vec4<f32>(
    quantize_value(x.x, p[0].x, p[0].y, params.qmin, params.qmax),
    quantize_value(x.y, p[1].x, p[1].y, params.qmin, params.qmax),
    quantize_value(x.z, p[2].x, p[2].y, params.qmin, params.qmax),
    quantize_value(x.w, p[3].x, p[3].y, params.qmin, params.qmax));
}

fn quantize4(e: u32) -> vec4<i32> {
  return vec4<i32>(quantize4_with(e, params4(e)));
}

fn first_word(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
  return linear_invocation(gid, groups, WORKGROUP_SIZE);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn quantize_i8(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  for (var k = 0u; k < VECS_PER_THREAD; k++) {
    let v = first_word(gid, groups) + k * params.thread_count;
    if (v >= params.vec_count) { return; }
    output_packed[v] = pack_i8(quantize4(4u * v));
  }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn quantize_u8(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  for (var k = 0u; k < VECS_PER_THREAD; k++) {
    let v = first_word(gid, groups) + k * params.thread_count;
    if (v >= params.vec_count) { return; }
    output_packed[v] = pack_u8(quantize4(4u * v));
  }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn quantize_i4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  for (var k = 0u; k < VECS_PER_THREAD; k++) {
    let v = first_word(gid, groups) + k * params.thread_count;
    if (v >= params.vec_count) { return; }
    output_packed[v] = pack_nibbles(quantize4(8u * v), quantize4(8u * v + 4u));
  }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn quantize_u4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  for (var k = 0u; k < VECS_PER_THREAD; k++) {
    let v = first_word(gid, groups) + k * params.thread_count;
    if (v >= params.vec_count) { return; }
    output_packed[v] = pack_nibbles(quantize4(8u * v), quantize4(8u * v + 4u));
  }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn quantize_i32(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  for (var k = 0u; k < VECS_PER_THREAD; k++) {
    let v = first_word(gid, groups) + k * params.thread_count;
    if (v >= params.vec_count) { return; }
    let q = quantize4_with(4u * v, params4(4u * v));
    output_i32[v] = vec4<i32>(to_i32_saturated(q.x), to_i32_saturated(q.y), to_i32_saturated(q.z), to_i32_saturated(q.w));
  }
}

// Fake quantization (PyTorch fake_quantize_*_affine): y = (q - zero_point) * scale in float32, with q
// clamped to the uniform's [qmin, qmax] = [quant_min, quant_max].
@compute @workgroup_size(WORKGROUP_SIZE)
fn fake_quantize(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  for (var k = 0u; k < VECS_PER_THREAD; k++) {
    let v = first_word(gid, groups) + k * params.thread_count;
    if (v >= params.vec_count) { return; }
    let p = params4(4u * v);
    let q = quantize4_with(4u * v, p);
    output_f32[v] = vec4<f32>((q.x - p[0].y) * p[0].z, (q.y - p[1].y) * p[1].z, (q.z - p[2].y) * p[2].z, (q.w - p[3].y) * p[3].z);
  }
}
