// Entry points of the stationary 8-bit and 4-bit dequantize kernels (per channel and per group, see
// stationary_params.wgsl): each invocation loads its parameters once, then converts up to
// VECS_PER_THREAD vecs (one vec4<u32> load of 16 or 32 elements each) with them.
// Needs: numerics.wgsl, pack_*.wgsl (pack_bytes.wgsl included), indexing.wgsl, stationary_params.wgsl.

override WORKGROUP_SIZE: u32 = 256;
override VECS_PER_THREAD: u32 = 4;
// The dtype's signedness: picks sign extension when unpacking.
override SIGNED: bool = true;

@group(0) @binding(1) var<storage, read> input_wide: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> output: array<vec4<f32>>;

fn sub_dequant(first: Dequant4, t: u32, sub: u32, subs: u32) -> Dequant4 {
  if (STATIONARY_KIND == 1u) { return first; }
  return stationary_dequant(t, sub, subs);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn dequantize_8bit(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let t = linear_invocation(gid, groups, WORKGROUP_SIZE);
  if (t >= params.thread_count) { return; }
  let span = span_of(t);
  var d0 = stationary_dequant(t, 0u, 4u);
  var d1 = sub_dequant(d0, t, 1u, 4u);
  var d2 = sub_dequant(d0, t, 2u, 4u);
  var d3 = sub_dequant(d0, t, 3u, 4u);
  var run = first_run_of(t);
  var left = params.run_vecs;
  for (var k = 0u; k < span.count; k++) {
    if (STATIONARY_KIND == 1u) {
      // Short runs: the next run, the next parameters (long runs never get here: count <= run_vecs).
      if (left == 0u) {
        run += 1u;
        d0 = run_dequant(run);
        d1 = d0;
        d2 = d0;
        d3 = d0;
        left = params.run_vecs;
      }
      left -= 1u;
    }
    let v = span.base + k * span.step;
    let w = input_wide[v];
    output[4u * v] = dequantize_small(unpack_bytes(w.x), d0);
    output[4u * v + 1u] = dequantize_small(unpack_bytes(w.y), d1);
    output[4u * v + 2u] = dequantize_small(unpack_bytes(w.z), d2);
    output[4u * v + 3u] = dequantize_small(unpack_bytes(w.w), d3);
  }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn dequantize_4bit(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let t = linear_invocation(gid, groups, WORKGROUP_SIZE);
  if (t >= params.thread_count) { return; }
  let span = span_of(t);
  var d0 = stationary_dequant(t, 0u, 8u);
  var d1 = sub_dequant(d0, t, 1u, 8u);
  var d2 = sub_dequant(d0, t, 2u, 8u);
  var d3 = sub_dequant(d0, t, 3u, 8u);
  var d4 = sub_dequant(d0, t, 4u, 8u);
  var d5 = sub_dequant(d0, t, 5u, 8u);
  var d6 = sub_dequant(d0, t, 6u, 8u);
  var d7 = sub_dequant(d0, t, 7u, 8u);
  var run = first_run_of(t);
  var left = params.run_vecs;
  for (var k = 0u; k < span.count; k++) {
    if (STATIONARY_KIND == 1u) {
      // Short runs: the next run, the next parameters (long runs never get here: count <= run_vecs).
      if (left == 0u) {
        run += 1u;
        d0 = run_dequant(run);
        d1 = d0;
        d2 = d0;
        d3 = d0;
        d4 = d0;
        d5 = d0;
        d6 = d0;
        d7 = d0;
        left = params.run_vecs;
      }
      left -= 1u;
    }
    let v = span.base + k * span.step;
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
}
