// Entry points of the stationary 8-bit and 4-bit quantize kernels (per channel and per group, see
// stationary_params.wgsl): each invocation prepares its parameters once, then converts up to
// VECS_PER_THREAD vecs (16 elements for 8-bit, 32 for 4-bit; one vec4<u32> store each) with them.
// Needs: numerics.wgsl, pack_*.wgsl (pack_bytes.wgsl included), indexing.wgsl, stationary_params.wgsl.

override WORKGROUP_SIZE: u32 = 256;
override VECS_PER_THREAD: u32 = 4;
// The dtype's signedness: unused by quantize (pack_bytes serves both), declared for the shared helpers.
override SIGNED: bool = true;
// Set by the host when some inv_scale exceeds 2^125 (numerics.wgsl quantize_small).
override EXACT_SUBNORMALS: bool = false;

@group(0) @binding(1) var<storage, read> input: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> output_wide: array<vec4<u32>>;

// Sub-word `sub`'s parameters: kind 1 shares the first sub-word's (one row), kind 2 loads its own.
fn sub_quant(first: Quant4, t: u32, sub: u32, subs: u32) -> Quant4 {
  if (STATIONARY_KIND == 1u) { return first; }
  return stationary_quant(t, sub, subs);
}

fn q4(i: u32, p: Quant4) -> vec4<i32> {
  return quantize_small(input[i], p, EXACT_SUBNORMALS);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn quantize_8bit(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let t = linear_invocation(gid, groups, WORKGROUP_SIZE);
  if (t >= params.thread_count) { return; }
  let span = span_of(t);
  var p0 = stationary_quant(t, 0u, 4u);
  var p1 = sub_quant(p0, t, 1u, 4u);
  var p2 = sub_quant(p0, t, 2u, 4u);
  var p3 = sub_quant(p0, t, 3u, 4u);
  var run = first_run_of(t);
  var left = params.run_vecs;
  for (var k = 0u; k < span.count; k++) {
    if (STATIONARY_KIND == 1u) {
      // Short runs: the next run, the next parameters (long runs never get here: count <= run_vecs).
      if (left == 0u) {
        run += 1u;
        p0 = run_quant(run);
        p1 = p0;
        p2 = p0;
        p3 = p0;
        left = params.run_vecs;
      }
      left -= 1u;
    }
    let v = span.base + k * span.step;
    let i = 4u * v;
    output_wide[v] = vec4<u32>(pack_bytes(q4(i, p0)), pack_bytes(q4(i + 1u, p1)), pack_bytes(q4(i + 2u, p2)),
      pack_bytes(q4(i + 3u, p3)));
  }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn quantize_4bit(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let t = linear_invocation(gid, groups, WORKGROUP_SIZE);
  if (t >= params.thread_count) { return; }
  let span = span_of(t);
  var p0 = stationary_quant(t, 0u, 8u);
  var p1 = sub_quant(p0, t, 1u, 8u);
  var p2 = sub_quant(p0, t, 2u, 8u);
  var p3 = sub_quant(p0, t, 3u, 8u);
  var p4 = sub_quant(p0, t, 4u, 8u);
  var p5 = sub_quant(p0, t, 5u, 8u);
  var p6 = sub_quant(p0, t, 6u, 8u);
  var p7 = sub_quant(p0, t, 7u, 8u);
  var run = first_run_of(t);
  var left = params.run_vecs;
  for (var k = 0u; k < span.count; k++) {
    if (STATIONARY_KIND == 1u) {
      // Short runs: the next run, the next parameters (long runs never get here: count <= run_vecs).
      if (left == 0u) {
        run += 1u;
        p0 = run_quant(run);
        p1 = p0;
        p2 = p0;
        p3 = p0;
        p4 = p0;
        p5 = p0;
        p6 = p0;
        p7 = p0;
        left = params.run_vecs;
      }
      left -= 1u;
    }
    let v = span.base + k * span.step;
    let i = 8u * v;
    output_wide[v] = vec4<u32>(pack_nibbles(q4(i, p0), q4(i + 1u, p1)), pack_nibbles(q4(i + 2u, p2), q4(i + 3u, p3)),
      pack_nibbles(q4(i + 4u, p4), q4(i + 5u, p5)), pack_nibbles(q4(i + 6u, p6), q4(i + 7u, p7)));
  }
}
