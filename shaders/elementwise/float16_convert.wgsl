// float32 -> float16 conversion, exact with integer operations only, so every device gives the same bits
// with or without `shader-f16`: WGSL lets a float conversion of a value between two halves return either
// neighbour and leaves overflow indeterminate, and pack2x16float has the same latitude.
// Rounds to nearest, ties to even (what torch's .half() and numpy do); float16 subnormals are produced
// exactly; values past the largest half (65504, up to the rounding boundary 65520) become ±Infinity; NaN
// becomes the canonical quiet NaN 0x7e00 with its sign. The input is read as bits (array<u32>), never as
// f32, so no device can flush a subnormal input before the conversion sees it.
// Needs: indexing.wgsl.

override WORKGROUP_SIZE: u32 = 256;

struct Float16Params {
  // Elements of this chunk; the last word gets a zero high half when it is odd.
  count: u32,
  // Invocations launched: the stride of the grid-stride loop.
  thread_count: u32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Float16Params;
@group(0) @binding(1) var<storage, read> input_bits: array<u32>;
@group(0) @binding(2) var<storage, read_write> output_words: array<u32>;

fn float32_bits_to_float16(bits: u32) -> u32 {
  let sign = (bits >> 16u) & 0x8000u;
  let exponent = (bits >> 23u) & 0xffu;
  let mantissa = bits & 0x7fffffu;
  if (exponent == 0xffu) {
    return sign | 0x7c00u | select(0u, 0x200u, mantissa != 0u);
  }
  let e = i32(exponent) - 112; // rebias 127 -> 15
  if (e >= 31) { return sign | 0x7c00u; }
  if (e <= 0) {
    // Below half the smallest subnormal (2^-25, and float32 subnormals): zero with the sign.
    if (e < -10) { return sign; }
    let full = mantissa | 0x800000u;
    let shift = u32(14 - e); // 14..24: units of 2^-24
    var half = full >> shift;
    let rest = full & ((1u << shift) - 1u);
    let halfway = 1u << (shift - 1u);
    if (rest > halfway || (rest == halfway && (half & 1u) == 1u)) { half += 1u; }
    return sign | half; // a carry to 0x400 is the smallest normal, as it should be
  }
  var half = (u32(e) << 10u) | (mantissa >> 13u);
  let rest = mantissa & 0x1fffu;
  // A carry out of the mantissa steps the exponent, and from the largest finite half gives Infinity.
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u) == 1u)) { half += 1u; }
  return sign | half;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn float32_to_float16(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let words = (params.count + 1u) / 2u;
  for (var w = linear_invocation(gid, groups, WORKGROUP_SIZE); w < words; w += params.thread_count) {
    let low = float32_bits_to_float16(input_bits[2u * w]);
    var high = 0u;
    if (2u * w + 1u < params.count) { high = float32_bits_to_float16(input_bits[2u * w + 1u]); }
    output_words[w] = low | (high << 16u);
  }
}
