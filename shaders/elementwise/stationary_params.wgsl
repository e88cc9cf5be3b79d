// The stationary per-channel and per-group schemes of the 8-bit and 4-bit kernels: each invocation keeps
// one set of parameters for all its vecs, loaded and prepared once, so the table costs almost nothing per
// element. Packed on the host by packUniform(STATIONARY_PARAMS) in src/kernels/common/uniforms.ts. Picked per
// tensor by the host (src/kernels/elementwise/stationary.ts) through `override STATIONARY_KIND`:
//
//   1 (runs):    the tensor is a sequence of runs of whole vecs, each run one parameter row: per channel
//                with inner % vec == 0 (a run is one (o, a) block of `inner` elements, row a), per group
//                along the last axis with channels % group_size == 0 and group_size % vec == 0 (a run is
//                one group, row = run). Long runs: an invocation takes vecs j, j + T, j + 2T, ... of
//                one run (T invocations share a run), so neighbouring invocations read neighbouring
//                memory. Per tensor is kind 1 with one parameter row and runs of 256 vecs (the last
//                one of a chunk may be shorter): compact runs measured faster than striding over the
//                whole chunk on SwiftShader.
//   3 (short runs): kind 1 with runs shorter than VECS_PER_THREAD vecs (a group of 32 is one or two
//                vecs): an invocation takes runs_per_thread whole runs in a row, one vec at a time,
//                reading each vec's row (RUN_VECS, the vecs per run, is a constant of the pipeline).
//   2 (columns): per channel along the last axis with channels % vec == 0: an invocation takes one vec
//                of columns (16 or 32 channels) in rows o, o + R, o + 2R, ... and keeps those columns'
//                parameters.
//
// Vec indices are local to the chunk: the host cuts chunks at run (kind 1) or row (kind 2) boundaries.
// The parameter table (src/kernels/elementwise/scheme-params.ts): kinds 1 and 3, one vec4 per row, so a run's
// parameters are one load: for quantize (inv_scale, qmin - zero_point, qmax - zero_point,
// bitcast<f32>(zero_point - kRoundBits)), ready for quantize_small; for dequantize (inv_scale,
// fround(zero_point), fround(scale), 0). Kind 2, grouped_params.wgsl's
// blocks (block b = three vec4s holding the inv_scale, fround(zero_point) and fround(scale) of rows
// 4b .. 4b + 3), so four columns' parameters are one load each.

override STATIONARY_KIND: u32 = 1u;
// The kinds by name (the host's STATIONARY_KIND table in src/kernels/elementwise/stationary.ts).
const KIND_RUNS: u32 = 1u;
const KIND_COLUMNS: u32 = 2u;
const KIND_SHORT_RUNS: u32 = 3u;
// Kind 3: vecs per run.
override RUN_VECS: u32 = 1u;

struct StationaryParams {
  thread_count: u32,     // invocations in the dispatch
  vec_count: u32,        // vecs in this chunk
  run_vecs: u32,         // vecs per run (kind 2: per row)
  run_threads: u32,      // kind 1: invocations sharing a run; kind 2: the row stride; kind 3: 1
  runs_per_thread: u32,  // kind 3: consecutive runs an invocation takes; else 1
  chunk_runs: u32,       // runs (kind 2: rows) in this chunk
  first_run: u32,        // kinds 1, 3: global index of the chunk's first run
  rows: u32,             // kinds 1, 3: parameter rows (a run's row is (first_run + run) % rows)
  qmin: f32,
  qmax: f32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: StationaryParams;
@group(0) @binding(3) var<storage, read> table: array<vec4<f32>>;

// The vecs of one invocation (kinds 1 and 2): base, base + step, ..., `count` of them. Kind 1:
// run_threads invocations share a run, each taking every run_threads-th vec of it. Kind 2: one column vec
// in rows o, o + run_threads, ... The parameters are `let`s set once before the loop: values a compiler
// keeps in registers (parameters held in a `var` reassigned inside the loop halved SwiftShader's speed).
struct Span {
  base: u32,
  step: u32,
  count: u32,
}

fn span_of(t: u32) -> Span {
  if (STATIONARY_KIND == KIND_RUNS) {
    let run = t / params.run_threads;
    let j = t - run * params.run_threads;
    // Per tensor the chunk's last run may be short: it ends at vec_count.
    let length = min(params.run_vecs, params.vec_count - run * params.run_vecs);
    let count = select(0u, (length - j + params.run_threads - 1u) / params.run_threads, j < length);
    return Span(run * params.run_vecs + j, params.run_threads, min(count, VECS_PER_THREAD));
  }
  let o = t / params.run_vecs;
  let column = t - o * params.run_vecs;
  let count = (params.chunk_runs - o + params.run_threads - 1u) / params.run_threads;
  return Span(o * params.run_vecs + column, params.run_threads * params.run_vecs, min(count, VECS_PER_THREAD));
}

// Kind 1: the parameter row of the invocation's run.
fn run_row(t: u32) -> u32 {
  return (params.first_run + t / params.run_threads) % params.rows;
}

// Kind 3: the invocation's runs are first .. first + runs - 1 of the chunk; its vecs base .. base + count - 1.
struct ShortSpan {
  first: u32,
  base: u32,
  count: u32,
  row0: u32,   // the first run's parameter row
}

fn short_span_of(t: u32) -> ShortSpan {
  let first = t * params.runs_per_thread;
  let runs = min(params.runs_per_thread, params.chunk_runs - first);
  return ShortSpan(first, first * RUN_VECS, runs * RUN_VECS, (params.first_run + first) % params.rows);
}

// Kind 3: the row of the invocation's k-th vec. The host keeps runs_per_thread <= rows, so the rows of
// one invocation wrap around at most once.
fn short_row(s: ShortSpan, k: u32) -> u32 {
  let row = s.row0 + k / RUN_VECS;
  return select(row, row - params.rows, row >= params.rows);
}

// Kinds 1 and 3: a row's parameters, splatted.
fn row_quant(row: u32) -> Quant4 {
  let p = table[row];
  return Quant4(vec4<f32>(p.x), vec4<f32>(p.y), vec4<f32>(p.z), vec4<i32>(bitcast<i32>(p.w)));
}

// Kind 2: the table block of sub-word `sub` (4 columns) of the invocation's column vec, `subs` sub-words a vec.
fn column_block(t: u32, sub: u32, subs: u32) -> u32 {
  return 3u * ((t % params.run_vecs) * subs + sub);
}

// Kinds 1 and 2: the quantize parameters of sub-word `sub` (numerics.wgsl Quant4) of the invocation's vecs.
fn stationary_quant(t: u32, sub: u32, subs: u32) -> Quant4 {
  if (STATIONARY_KIND == KIND_RUNS) { return row_quant(run_row(t)); }
  let block = column_block(t, sub, subs);
  return quant4_of(table[block], table[block + 1u], params.qmin, params.qmax);
}

// The dequantize parameters of sub-word `sub`: fround(zero_point) and fround(scale).
struct Dequant4 {
  zero_point: vec4<f32>,
  scale: vec4<f32>,
}

fn row_dequant(row: u32) -> Dequant4 {
  let p = table[row];
  return Dequant4(vec4<f32>(p.y), vec4<f32>(p.z));
}

fn stationary_dequant(t: u32, sub: u32, subs: u32) -> Dequant4 {
  if (STATIONARY_KIND == KIND_RUNS) { return row_dequant(run_row(t)); }
  let block = column_block(t, sub, subs);
  return Dequant4(table[block + 1u], table[block + 2u]);
}

// x = (f32(q) - fround(zero_point)) * fround(scale): PyTorch's per-channel formula, every step exact
// for 8-bit and 4-bit values but the final multiply.
fn dequantize_small(q: vec4<i32>, d: Dequant4) -> vec4<f32> {
  return (vec4<f32>(q) - d.zero_point) * d.scale;
}
