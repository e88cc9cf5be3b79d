// Entry points of the stationary 8-bit and 4-bit dequantize kernels (per channel and per group, see
// stationary_params.wgsl): each invocation reads its parameters once (kinds 1 and 2) or once per vec
// (kind 3, short runs), and converts up to VECS_PER_THREAD vecs (one vec4<u32> load of 16 or 32
// elements each).
// Needs: numerics.wgsl, pack_*.wgsl (pack_bytes.wgsl included), indexing.wgsl, stationary_params.wgsl.

override WORKGROUP_SIZE: u32 = 256;
override VECS_PER_THREAD: u32 = 16;
// The dtype's signedness: picks sign extension when unpacking.
override SIGNED: bool = true;

@group(0) @binding(1) var<storage, read> input_wide: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> output: array<vec4<f32>>;

fn sub_dequant(first: Dequant4, t: u32, sub: u32, subs: u32) -> Dequant4 {
  if (STATIONARY_KIND == KIND_RUNS) { return first; }
  return stationary_dequant(t, sub, subs);
}

fn floats16(v: u32, d0: Dequant4, d1: Dequant4, d2: Dequant4, d3: Dequant4) {
  let w = input_wide[v];
  output[4u * v] = dequantize_small(unpack_bytes(w.x), d0);
  output[4u * v + 1u] = dequantize_small(unpack_bytes(w.y), d1);
  output[4u * v + 2u] = dequantize_small(unpack_bytes(w.z), d2);
  output[4u * v + 3u] = dequantize_small(unpack_bytes(w.w), d3);
}

fn floats32(v: u32, d0: Dequant4, d1: Dequant4, d2: Dequant4, d3: Dequant4, d4: Dequant4, d5: Dequant4, d6: Dequant4, d7: Dequant4) {
  let w = input_wide[v];
  let o = 8u * v;
  output[o] = dequantize_small(unpack_nibbles(w.x, 0u), d0);
  output[o + 1u] = dequantize_small(unpack_nibbles(w.x, 1u), d1);
  output[o + 2u] = dequantize_small(unpack_nibbles(w.y, 0u), d2);
  output[o + 3u] = dequantize_small(unpack_nibbles(w.y, 1u), d3);
  output[o + 4u] = dequantize_small(unpack_nibbles(w.z, 0u), d4);
  output[o + 5u] = dequantize_small(unpack_nibbles(w.z, 1u), d5);
  output[o + 6u] = dequantize_small(unpack_nibbles(w.w, 0u), d6);
  output[o + 7u] = dequantize_small(unpack_nibbles(w.w, 1u), d7);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn dequantize_8bit(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let t = linear_invocation(gid, groups, WORKGROUP_SIZE);
  if (t >= params.thread_count) { return; }
  if (STATIONARY_KIND == KIND_SHORT_RUNS) {
    let s = short_span_of(t);
    for (var k = 0u; k < s.count; k++) {
      let d = row_dequant(short_row(s, k));
      floats16(s.base + k, d, d, d, d);
    }
    return;
  }
  let span = span_of(t);
  let d0 = stationary_dequant(t, 0u, 4u);
  let d1 = sub_dequant(d0, t, 1u, 4u);
  let d2 = sub_dequant(d0, t, 2u, 4u);
  let d3 = sub_dequant(d0, t, 3u, 4u);
  for (var k = 0u; k < span.count; k++) {
    floats16(span.base + k * span.step, d0, d1, d2, d3);
  }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn dequantize_4bit(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let t = linear_invocation(gid, groups, WORKGROUP_SIZE);
  if (t >= params.thread_count) { return; }
  if (STATIONARY_KIND == KIND_SHORT_RUNS) {
    let s = short_span_of(t);
    for (var k = 0u; k < s.count; k++) {
      let d = row_dequant(short_row(s, k));
      floats32(s.base + k, d, d, d, d, d, d, d, d);
    }
    return;
  }
  let span = span_of(t);
  let d0 = stationary_dequant(t, 0u, 8u);
  let d1 = sub_dequant(d0, t, 1u, 8u);
  let d2 = sub_dequant(d0, t, 2u, 8u);
  let d3 = sub_dequant(d0, t, 3u, 8u);
  let d4 = sub_dequant(d0, t, 4u, 8u);
  let d5 = sub_dequant(d0, t, 5u, 8u);
  let d6 = sub_dequant(d0, t, 6u, 8u);
  let d7 = sub_dequant(d0, t, 7u, 8u);
  for (var k = 0u; k < span.count; k++) {
    floats32(span.base + k * span.step, d0, d1, d2, d3, d4, d5, d6, d7);
  }
}
