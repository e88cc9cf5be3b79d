// 8-bit packing with the packed_4x8_integer_dot_product built-ins (used when the adapter's
// wgslLanguageFeatures has it). Same contract as pack_shift.wgsl: element j goes to bits 8j..8j+7.

fn pack_i8(v: vec4<i32>) -> u32 { return pack4xI8Clamp(v); }
fn pack_u8(v: vec4<i32>) -> u32 { return pack4xU8Clamp(vec4<u32>(v)); }
fn unpack_i8(w: u32) -> vec4<i32> { return unpack4xI8(w); }
fn unpack_u8(w: u32) -> vec4<i32> { return vec4<i32>(unpack4xU8(w)); }
