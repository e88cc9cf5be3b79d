// 4-bit packing: 8 values per u32, element j in bits 4j..4j+3, so the little-endian bytes hold two
// elements each with element 0 in the low nibble (ONNX int4/uint4, PyTorch quint4x2). Inputs to pack_*4
// are already clamped to the dtype's range.

fn pack_nibbles(low: vec4<i32>, high: vec4<i32>) -> u32 {
  // Byte k holds elements 2k (low nibble) and 2k + 1: pair them up as vec4s, then place the bytes with one
  // dot product (fewer operations than eight shifts and ors: docs/performance.md).
  let even = bitcast<vec4<u32>>(vec4<i32>(low.x, low.z, high.x, high.z)) & vec4<u32>(0xfu);
  let odd = bitcast<vec4<u32>>(vec4<i32>(low.y, low.w, high.y, high.w)) & vec4<u32>(0xfu);
  return dot(even | (odd << vec4<u32>(4u)), vec4<u32>(1u, 0x100u, 0x10000u, 0x1000000u));
}

// Elements 4 * half .. 4 * half + 3 of a packed word, sign-extended (qint4): shift the nibble to the top,
// then arithmetic-shift it back down.
fn unpack_i4(w: u32, half: u32) -> vec4<i32> {
  let s = bitcast<i32>(w);
  let base = 16u * half;
  return vec4<i32>(s << (28u - base), s << (24u - base), s << (20u - base), s << (16u - base)) >> vec4<u32>(28u);
}

fn unpack_u4(w: u32, half: u32) -> vec4<i32> {
  let base = 16u * half;
  return vec4<i32>((vec4<u32>(w) >> vec4<u32>(base, base + 4u, base + 8u, base + 12u)) & vec4<u32>(0xfu));
}
