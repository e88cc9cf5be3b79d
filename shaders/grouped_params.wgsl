// The per-channel and per-group schemes: a table of parameters, one row per channel or group, and the
// formula that finds each element's row. Packed on the host by packUniform(GROUPED_PARAMS) in
// src/kernels/uniforms.ts; a unit test checks the two layouts agree. Provides params4 and dequantize4.
//
// The tensor is viewed as [outer, channels, inner] around the axis. Element (o, a, k) uses row
//   o * stride_outer + (a / group_size) * stride_group + k * stride_inner
// per channel: group_size 1, strides (0, 1, 0); per group (ONNX block_size): strides (groups * inner, inner, 1).

struct GroupedParams {
  vec_count: u32,
  thread_count: u32,
  start_element: u32,   // global index of this chunk's first element
  inner: u32,           // product of the dimensions after the axis
  channels: u32,        // size of the axis
  group_size: u32,
  stride_outer: u32,
  stride_group: u32,
  stride_inner: u32,
  qmin: f32,
  qmax: f32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> params: GroupedParams;
// Per row: (inv_scale, fround(zero_point), fround(scale), unused).
@group(0) @binding(3) var<storage, read> table: array<vec4<f32>>;

fn row_of(o: u32, a: u32, k: u32) -> u32 {
  // Lanes past the end of the tensor (padding of the last word) read the last row; their results are dropped.
  return min(o * params.stride_outer + (a / params.group_size) * params.stride_group + k * params.stride_inner,
             arrayLength(&table) - 1u);
}

// The parameters of elements e..e+3 (e local to the chunk), one column each. One division finds the first
// element's position; the other three step from it.
fn params4(e: u32) -> mat4x4<f32> {
  let index = params.start_element + e;
  var k = index % params.inner;
  let t = index / params.inner;
  var a = t % params.channels;
  var o = t / params.channels;
  if (k + 3u < params.inner) {
    // All four share (o, a): the outer-axis layout. Per channel this is one row loaded once.
    if (params.stride_inner == 0u) {
      let p = table[row_of(o, a, k)];
      return mat4x4<f32>(p, p, p, p);
    }
    return mat4x4<f32>(table[row_of(o, a, k)], table[row_of(o, a, k + 1u)], table[row_of(o, a, k + 2u)], table[row_of(o, a, k + 3u)]);
  }
  var columns: mat4x4<f32>;
  for (var j = 0u; j < 4u; j++) {
    columns[j] = table[row_of(o, a, k)];
    k += 1u;
    if (k == params.inner) {
      k = 0u;
      a += 1u;
      if (a == params.channels) { a = 0u; o += 1u; }
    }
  }
  return columns;
}

// x = fround(f32(q) - fround(zero_point)) * fround(scale), all float32. PyTorch's per-channel dequantize
// multiplies by the float64 scale: identical whenever the scale is a float32 value, within 1 ulp otherwise.
fn dequantize4(q: vec4<i32>, e: u32) -> vec4<f32> {
  let p = params4(e);
  return vec4<f32>(
    (i32_to_f32_rne(q.x) - p[0].y) * p[0].z,
    (i32_to_f32_rne(q.y) - p[1].y) * p[1].z,
    (i32_to_f32_rne(q.z) - p[2].y) * p[2].z,
    (i32_to_f32_rne(q.w) - p[3].y) * p[3].z);
}
