// The parameter table of a per-channel or per-group call, built on the device from the scales (rounded to
// float32 on the host) and the zero points as given: the bits of the host's `paramTable`, `paramRows` or
// `quantRows` (src/kernels/elementwise/scheme-params.ts), with fewer bytes to upload and no pass over the rows
// on the host. The inverse scale is exact_float.wgsl's correctly rounded reciprocal_bits (WGSL's '/' may be off
// by 2.5 ulp), so the quantize kernels read the same inverse as on the host. Packed on the host by
// packUniform(PARAM_TABLE_PARAMS) in src/kernels/elementwise/param-table-kernel.ts.
//
//   TABLE_KIND 0 (blocks): grouped_params.wgsl's blocks of four rows, structure of arrays: block b holds the
//                          inverse scales, fround(zero point)s and scales of rows 4b .. 4b + 3 (zeros past
//                          the last row).
//   TABLE_KIND 1 (rows):   one vec4 a row, (inverse scale, fround(zero point), scale, 0): dequantize's.
//   TABLE_KIND 2 (quantRows): one vec4 a row, (inverse scale, qmin - zero point, qmax - zero point,
//                          bitcast<f32>(zero point - round_bits)): quantize_small's (numerics.wgsl).

struct ParamTableParams {
  rows: u32,         // parameter rows
  table_rows: u32,   // invocations that write: rows, rounded up to a multiple of 4 for kind 0
  qmin: i32,         // the clamp range (kind 2)
  qmax: i32,
  round_bits: i32,   // kRoundBits of numerics.wgsl (kind 2)
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

override TABLE_KIND: u32 = 0u;
const KIND_BLOCKS: u32 = 0u;
const KIND_ROWS: u32 = 1u;
override WORKGROUP_SIZE: u32 = 64u;

@group(0) @binding(0) var<uniform> params: ParamTableParams;
// float32 bits of each row's scale, validated by the host: normal, in [2^-126, 2^126]. The zero points are
// an 8- or 4-bit dtype's (the host builds 32-bit tables itself: f32(i32) need not round to nearest).
@group(0) @binding(1) var<storage, read> scales: array<u32>;
@group(0) @binding(2) var<storage, read> zero_points: array<i32>;
@group(0) @binding(3) var<storage, read_write> table: array<u32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn param_table(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let r = linear_invocation(gid, groups, WORKGROUP_SIZE);
  if (r >= params.table_rows) { return; }
  let slot = 12u * (r / 4u) + (r % 4u);
  if (r >= params.rows) {
    // Kind 0 only: the padding of the last block of four rows.
    table[slot] = 0u;
    table[slot + 4u] = 0u;
    table[slot + 8u] = 0u;
    return;
  }
  let scale = scales[r];
  let zero_point = zero_points[r];
  let inverse = reciprocal_bits(scale);
  if (TABLE_KIND == KIND_BLOCKS) {
    table[slot] = inverse;
    table[slot + 4u] = bitcast<u32>(f32(zero_point)); // an 8- or 4-bit dtype's zero point: exact
    table[slot + 8u] = scale;
  } else if (TABLE_KIND == KIND_ROWS) {
    table[4u * r] = inverse;
    table[4u * r + 1u] = bitcast<u32>(f32(zero_point));
    table[4u * r + 2u] = scale;
    table[4u * r + 3u] = 0u;
  } else {
    table[4u * r] = inverse;
    table[4u * r + 1u] = bitcast<u32>(f32(params.qmin - zero_point));
    table[4u * r + 2u] = bitcast<u32>(f32(params.qmax - zero_point));
    table[4u * r + 3u] = bitcast<u32>(zero_point - params.round_bits);
  }
}
