// The stationary per-channel and per-group schemes of the 8-bit and 4-bit kernels: each invocation keeps
// one set of parameters for all its vecs, loaded and prepared once, so the table costs almost nothing per
// element. Packed on the host by packUniform(STATIONARY_PARAMS) in src/kernels/uniforms.ts. Two kinds,
// picked per tensor by the host (src/kernels/stationary.ts) through `override STATIONARY_KIND`:
//
//   1 (runs):    the tensor is a sequence of runs of whole vecs, each run one parameter row: per channel
//                with inner % vec == 0 (a run is one (o, a) block of `inner` elements, row a), per group
//                along the last axis with channels % group_size == 0 and group_size % vec == 0 (a run is
//                one group, row = run). Long runs: an invocation takes vecs j, j + T, j + 2T, ... of
//                one run (T invocations share a run), so neighbouring invocations read neighbouring
//                memory. Short runs (a group of 32 is one or two vecs): an invocation takes several
//                whole runs in a row, loading each run's parameters once.
//   2 (columns): per channel along the last axis with channels % vec == 0: an invocation takes one vec
//                of columns (16 or 32 channels) in rows o, o + R, o + 2R, ... and keeps those columns'
//                parameters.
//
// Vec indices are local to the chunk: the host cuts chunks at run (kind 1) or row (kind 2) boundaries.
// The parameter table (src/kernels/scheme-params.ts): kind 1, one vec4 per row, (inv_scale,
// fround(zero_point), fround(scale), 0), so a run's parameters are one load; kind 2, grouped_params.wgsl's
// blocks (block b = three vec4s holding the inv_scale, fround(zero_point) and fround(scale) of rows
// 4b .. 4b + 3), so four columns' parameters are one load each.

override STATIONARY_KIND: u32 = 1u;

struct StationaryParams {
  thread_count: u32,     // invocations in the dispatch
  vec_count: u32,        // vecs in this chunk
  run_vecs: u32,         // vecs per run (kind 2: per row)
  run_threads: u32,      // kind 1: invocations sharing a run (1 for short runs); kind 2: the row stride
  runs_per_thread: u32,  // kind 1: consecutive runs an invocation takes (1 for long runs)
  chunk_runs: u32,       // runs (kind 2: rows) in this chunk
  first_run: u32,        // kind 1: global index of the chunk's first run
  rows: u32,             // kind 1: parameter rows (a run's row is (first_run + run) % rows)
  qmin: f32,
  qmax: f32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: StationaryParams;
@group(0) @binding(3) var<storage, read> table: array<vec4<f32>>;

// The vecs of one invocation: base, base + step, ..., `count` of them (at most VECS_PER_THREAD).
// Kind 1, long runs (run_vecs >= VECS_PER_THREAD): run_threads invocations share a run, each taking
// every run_threads-th vec of it. Short runs: each invocation takes runs_per_thread whole consecutive
// runs (step 1), and changes parameters every run_vecs vecs.
struct Span {
  base: u32,
  step: u32,
  count: u32,
}

// Kind 1: the chunk-local index of the invocation's first run.
fn first_run_of(t: u32) -> u32 {
  return (t / params.run_threads) * params.runs_per_thread;
}

fn span_of(t: u32) -> Span {
  if (STATIONARY_KIND == 1u) {
    let run = first_run_of(t);
    let j = t % params.run_threads;
    let vecs = params.run_vecs * min(params.runs_per_thread, params.chunk_runs - run);
    let count = (vecs - j + params.run_threads - 1u) / params.run_threads;
    return Span(run * params.run_vecs + j, params.run_threads, min(count, VECS_PER_THREAD));
  }
  let o = t / params.run_vecs;
  let column = t - o * params.run_vecs;
  let count = (params.chunk_runs - o + params.run_threads - 1u) / params.run_threads;
  return Span(o * params.run_vecs + column, params.run_threads * params.run_vecs, min(count, VECS_PER_THREAD));
}

// Kind 1: the parameter row of chunk-local run `run`, and its parameters.
fn run_row(run: u32) -> u32 {
  return (params.first_run + run) % params.rows;
}

fn quant_of(inv_scale: vec4<f32>, zero_point: vec4<f32>) -> Quant4 {
  return Quant4(inv_scale, params.qmin - zero_point, params.qmax - zero_point,
    (bitcast<vec4<i32>>(zero_point + kRound) - vec4<i32>(kRoundBits)) - vec4<i32>(kRoundBits));
}

fn run_quant(run: u32) -> Quant4 {
  let row = table[run_row(run)];
  return quant_of(vec4<f32>(row.x), vec4<f32>(row.y));
}

// Kind 2: the table block of sub-word `sub` (4 columns) of the invocation's column vec, `subs` sub-words a vec.
fn column_block(t: u32, sub: u32, subs: u32) -> u32 {
  return 3u * ((t % params.run_vecs) * subs + sub);
}

// The quantize parameters of sub-word `sub` (numerics.wgsl Quant4) of the invocation's first vec.
fn stationary_quant(t: u32, sub: u32, subs: u32) -> Quant4 {
  if (STATIONARY_KIND == 1u) { return run_quant(first_run_of(t)); }
  let block = column_block(t, sub, subs);
  return quant_of(table[block], table[block + 1u]);
}

// The dequantize parameters of sub-word `sub`: fround(zero_point) and fround(scale).
struct Dequant4 {
  zero_point: vec4<f32>,
  scale: vec4<f32>,
}

fn run_dequant(run: u32) -> Dequant4 {
  let row = table[run_row(run)];
  return Dequant4(vec4<f32>(row.y), vec4<f32>(row.z));
}

fn stationary_dequant(t: u32, sub: u32, subs: u32) -> Dequant4 {
  if (STATIONARY_KIND == 1u) { return run_dequant(first_run_of(t)); }
  let block = column_block(t, sub, subs);
  return Dequant4(table[block + 1u], table[block + 2u]);
}

// x = (f32(q) - fround(zero_point)) * fround(scale): PyTorch's per-channel formula, every step exact
// for 8-bit and 4-bit values but the final multiply.
fn dequantize_small(q: vec4<i32>, d: Dequant4) -> vec4<f32> {
  return (vec4<f32>(q) - d.zero_point) * d.scale;
}
