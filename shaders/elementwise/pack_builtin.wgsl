// 8-bit unpacking with the packed_4x8_integer_dot_product built-ins (used when the adapter's
// wgslLanguageFeatures has it). Same contract as pack_shift.wgsl: element j is bits 8j..8j+7. (Packing
// needs no built-in: the quantize kernels' values are in range already, pack_bytes.wgsl.)

fn unpack_i8(w: u32) -> vec4<i32> { return unpack4xI8(w); }
fn unpack_u8(w: u32) -> vec4<i32> { return vec4<i32>(unpack4xU8(w)); }
