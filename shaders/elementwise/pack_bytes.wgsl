// Byte and nibble helpers of the wide 8-bit and 4-bit kernels, on top of pack_builtin.wgsl or
// pack_shift.wgsl (unpack_i8 / unpack_u8) and pack_nibbles.wgsl (unpack_i4 / unpack_u4). The entry-point
// file declares `override SIGNED`.

// Four 8-bit values in one word, element j in byte j. The values are in range already (quantize_small
// clamps), so no clamping pack is needed, and the same code packs signed and unsigned bytes.
fn pack_bytes(q: vec4<i32>) -> u32 {
  return dot(bitcast<vec4<u32>>(q) & vec4<u32>(0xffu), vec4<u32>(1u, 0x100u, 0x10000u, 0x1000000u));
}

fn unpack_bytes(w: u32) -> vec4<i32> {
  return select(unpack_u8(w), unpack_i8(w), SIGNED);
}

fn unpack_nibbles(w: u32, half: u32) -> vec4<i32> {
  return select(unpack_u4(w, half), unpack_i4(w, half), SIGNED);
}
