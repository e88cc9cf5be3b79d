// 8-bit unpacking with shifts, for adapters without packed_4x8_integer_dot_product. Element j is bits
// 8j..8j+7 (little-endian byte order, so the u32 words read back as an Int8Array/Uint8Array).

fn unpack_i8(w: u32) -> vec4<i32> {
  // Shift the byte to the top, then arithmetic-shift it back down to sign-extend.
  let s = bitcast<i32>(w);
  return vec4<i32>((s << 24u) >> 24u, (s << 16u) >> 24u, (s << 8u) >> 24u, s >> 24u);
}
fn unpack_u8(w: u32) -> vec4<i32> {
  return vec4<i32>(vec4<u32>(w & 0xffu, (w >> 8u) & 0xffu, (w >> 16u) & 0xffu, w >> 24u));
}
