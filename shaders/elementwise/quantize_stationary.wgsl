// Entry points of the stationary 8-bit and 4-bit quantize kernels (per channel and per group, see
// stationary_params.wgsl): each invocation reads its parameters once (kinds 1 and 2) or once per vec
// (kind 3, short runs), and converts up to VECS_PER_THREAD vecs (16 elements for 8-bit, 32 for 4-bit;
// one vec4<u32> store each).
// Needs: numerics.wgsl, pack_*.wgsl (pack_bytes.wgsl included), indexing.wgsl, stationary_params.wgsl.

override WORKGROUP_SIZE: u32 = 256;
override VECS_PER_THREAD: u32 = 16;
// The dtype's signedness: unused by quantize (pack_bytes serves both), declared for the shared helpers.
override SIGNED: bool = true;
// Set by the host when some inv_scale exceeds 2^125 (numerics.wgsl quantize_small).
override EXACT_SUBNORMALS: bool = false;

@group(0) @binding(1) var<storage, read> input: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> output_wide: array<vec4<u32>>;

// Sub-word `sub`'s parameters: kind 1 shares the first sub-word's (one row), kind 2 loads its own.
fn sub_quant(first: Quant4, t: u32, sub: u32, subs: u32) -> Quant4 {
  if (STATIONARY_KIND == KIND_RUNS) { return first; }
  return stationary_quant(t, sub, subs);
}

fn q4(i: u32, p: Quant4) -> vec4<i32> {
  return quantize_small(input[i], p, EXACT_SUBNORMALS);
}

fn bytes16(v: u32, p0: Quant4, p1: Quant4, p2: Quant4, p3: Quant4) -> vec4<u32> {
  let i = 4u * v;
  return vec4<u32>(pack_bytes(q4(i, p0)), pack_bytes(q4(i + 1u, p1)), pack_bytes(q4(i + 2u, p2)), pack_bytes(q4(i + 3u, p3)));
}

fn nibbles32(v: u32, p0: Quant4, p1: Quant4, p2: Quant4, p3: Quant4, p4: Quant4, p5: Quant4, p6: Quant4, p7: Quant4) -> vec4<u32> {
  let i = 8u * v;
  return vec4<u32>(pack_nibbles(q4(i, p0), q4(i + 1u, p1)), pack_nibbles(q4(i + 2u, p2), q4(i + 3u, p3)),
    pack_nibbles(q4(i + 4u, p4), q4(i + 5u, p5)), pack_nibbles(q4(i + 6u, p6), q4(i + 7u, p7)));
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn quantize_8bit(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let t = linear_invocation(gid, groups, WORKGROUP_SIZE);
  if (t >= params.thread_count) { return; }
  if (STATIONARY_KIND == KIND_SHORT_RUNS) {
    let s = short_span_of(t);
    for (var k = 0u; k < s.count; k++) {
      let p = row_quant(short_row(s, k));
      output_wide[s.base + k] = bytes16(s.base + k, p, p, p, p);
    }
    return;
  }
  let span = span_of(t);
  let p0 = stationary_quant(t, 0u, 4u);
  let p1 = sub_quant(p0, t, 1u, 4u);
  let p2 = sub_quant(p0, t, 2u, 4u);
  let p3 = sub_quant(p0, t, 3u, 4u);
  for (var k = 0u; k < span.count; k++) {
    let v = span.base + k * span.step;
    output_wide[v] = bytes16(v, p0, p1, p2, p3);
  }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn quantize_4bit(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let t = linear_invocation(gid, groups, WORKGROUP_SIZE);
  if (t >= params.thread_count) { return; }
  if (STATIONARY_KIND == KIND_SHORT_RUNS) {
    let s = short_span_of(t);
    for (var k = 0u; k < s.count; k++) {
      let p = row_quant(short_row(s, k));
      output_wide[s.base + k] = nibbles32(s.base + k, p, p, p, p, p, p, p, p);
    }
    return;
  }
  let span = span_of(t);
  let p0 = stationary_quant(t, 0u, 8u);
  let p1 = sub_quant(p0, t, 1u, 8u);
  let p2 = sub_quant(p0, t, 2u, 8u);
  let p3 = sub_quant(p0, t, 3u, 8u);
  let p4 = sub_quant(p0, t, 4u, 8u);
  let p5 = sub_quant(p0, t, 5u, 8u);
  let p6 = sub_quant(p0, t, 6u, 8u);
  let p7 = sub_quant(p0, t, 7u, 8u);
  for (var k = 0u; k < span.count; k++) {
    let v = span.base + k * span.step;
    output_wide[v] = nibbles32(v, p0, p1, p2, p3, p4, p5, p6, p7);
  }
}
