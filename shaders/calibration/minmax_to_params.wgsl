// Scales and zero points from the min/max reduction's records, on the device, bit for bit those of the host's
// `paramsFromRanges` (PyTorch's observer formulas, src/calibration/qparams.ts) or `signedExtremeOfRanges`
// (the 'extreme' rule): every float step is done on bit patterns by exact_float.wgsl, so neither '/' nor a
// flushed subnormal nor a fused multiply-add can change a bit. It writes them straight into the tables the
// quantize and error-statistics kernels read, and the statistics' prescale, so a weight is reduced,
// calibrated, quantized and measured in one submit. Packed on the host by src/kernels/weight/params-from-ranges.ts.

struct RangeParams {
  outputs: u32,
  rule: u32,                     // kRuleAffine, kRuleSymmetric or kRuleExtreme
  qmin: i32,                     // the calibration range
  qmax: i32,
  divisor: u32,                  // float32 bits: fround(qmax - qmin), fround((qmax - qmin) / 2), or the extreme rule's half
  zero_point: i32,               // symmetric: the range's zero point; extreme: qmin + half (the minimum is the extreme)
  positive_zero_point: i32,      // extreme: qmax - half (the maximum is the extreme)
  clamp_min: i32,                // the quantize kernel's clamp range (the dtype's), for its 'rows' table
  clamp_max: i32,
  rows_table: u32,               // 1: the quantize table is one vec4 a row (quantRows); 0: blocks of four rows (paramTable)
  table_rows: u32,               // invocations: outputs rounded up to a multiple of 4
  span: u32,                     // the statistics' 2 * (qmax - qmin + 1) of the dtype (prescaleFor)
  round_bits: i32,               // ROUND_BITS of the quantize kernels
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

const kRuleAffine: u32 = 0u;
const kRuleSymmetric: u32 = 1u;
const kRuleExtreme: u32 = 2u;
const kEpsBits: u32 = 0x34000000u;   // 2^-23, the smallest scale
const kOneBits: u32 = 0x3f800000u;

override WORKGROUP_SIZE: u32 = 64u;

@group(0) @binding(0) var<uniform> params: RangeParams;
@group(0) @binding(1) var<storage, read> records: array<vec4<u32>>;
// Per output (inverse scale, fround(zero point), scale, zero point): the statistics' table, read back too.
@group(0) @binding(2) var<storage, read_write> stats_table: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read_write> quant_table: array<u32>;
// [0]: largest |min| or |max|, [1]: largest scale (both as bits), [2]: the prescale (float32 bits).
@group(0) @binding(4) var<storage, read_write> maxima: array<atomic<u32>, 4>;

// minmax_reduce.wgsl's order key back to float32 bits.
fn key_to_bits(key: u32) -> u32 {
  return select(key, key ^ 0x7fffffffu, (key & kSignBit) != 0u);
}

// A u32 key with the order of the float32 values (NaN aside); -0 and +0 get the same key.
fn float_order(bits: u32) -> u32 {
  if ((bits & kMagnitudeBits) == 0u) { return kSignBit; }
  return select(bits | kSignBit, ~bits, (bits & kSignBit) != 0u);
}

struct OutputParams {
  scale: u32,
  zero_point: i32,
}

fn params_of(min_bits: u32, max_bits: u32) -> OutputParams {
  if (params.rule == kRuleExtreme) {
    // -min >= max: the minimum is the extreme (ties too), and the magnitude is max(extreme, 0).
    let negated_min = min_bits ^ kSignBit;
    let negative = float_order(negated_min) >= float_order(max_bits);
    let extreme = select(max_bits, negated_min, negative);
    let magnitude = select(extreme, 0u, (extreme & kSignBit) != 0u);
    let scale = max(divide_bits(magnitude, params.divisor), kEpsBits);
    return OutputParams(scale, select(params.positive_zero_point, params.zero_point, negative));
  }
  // min(min, 0) and max(max, 0) as magnitudes (a nonnegative float32 orders as its bits).
  let below = select(0u, min_bits & kMagnitudeBits, (min_bits & kSignBit) != 0u);
  let above = select(0u, max_bits, (max_bits & kSignBit) == 0u);
  if (params.rule == kRuleSymmetric) {
    return OutputParams(max(divide_bits(max(below, above), params.divisor), kEpsBits), params.zero_point);
  }
  let scale = max(divide_bits(add_magnitudes_bits(above, below), params.divisor), kEpsBits);
  // qmin - roundHalfEven(min / scale), min <= 0: qmin + roundHalfEven(|min| / scale), clamped.
  let shift = i32(round_half_even_magnitude(divide_bits(below, scale)));
  return OutputParams(scale, clamp(params.qmin + shift, params.qmin, params.qmax));
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn params_from_ranges(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let w = linear_invocation(gid, groups, WORKGROUP_SIZE);
  if (w >= params.table_rows) { return; }
  let block = 12u * (w / 4u) + (w % 4u);
  if (w >= params.outputs) {
    // The padding of the last block of four rows.
    if (params.rows_table == 0u) {
      quant_table[block] = 0u;
      quant_table[block + 4u] = 0u;
      quant_table[block + 8u] = 0u;
    }
    return;
  }
  let record = records[w];
  let min_bits = key_to_bits(record.x);
  let max_bits = key_to_bits(record.y);
  let p = params_of(min_bits, max_bits);
  let inverse = divide_bits(kOneBits, p.scale);
  let zero_point_bits = bitcast<u32>(f32(p.zero_point)); // an integer below 2^24: exact
  stats_table[w] = vec4<u32>(inverse, zero_point_bits, p.scale, bitcast<u32>(p.zero_point));
  if (params.rows_table == 1u) {
    quant_table[4u * w] = inverse;
    quant_table[4u * w + 1u] = bitcast<u32>(f32(params.clamp_min - p.zero_point));
    quant_table[4u * w + 2u] = bitcast<u32>(f32(params.clamp_max - p.zero_point));
    quant_table[4u * w + 3u] = bitcast<u32>(p.zero_point - params.round_bits);
  } else {
    quant_table[block] = inverse;
    quant_table[block + 4u] = zero_point_bits;
    quant_table[block + 8u] = p.scale;
  }
  atomicMax(&maxima[0], max(min_bits & kMagnitudeBits, max_bits & kMagnitudeBits));
  atomicMax(&maxima[1], p.scale);
}

// prescaleFor: 2^-e with e = floor(log2(max(largest |x|, span * largest scale))), clamped to [-126, 126].
// The scale term is at least 2 * 2^-23, so a subnormal or zero |x| never decides e; span * scale is exact
// as an integer times a power of two, and its bit length gives the exponent.
@compute @workgroup_size(1)
fn prescale_from_maxima() {
  let largest = atomicLoad(&maxima[0]);
  let scale = atomicLoad(&maxima[1]);
  var exponent = -1000;
  if ((largest >> 23u) != 0u) { exponent = i32(largest >> 23u) - 127; }
  let significand = (scale & 0x7fffffu) | 0x800000u;
  // floor(span * significand / 2^12), at least 2^12: its bit length + 12 is that of the product.
  let top = params.span * (significand >> 12u) + ((params.span * (significand & 0xfffu)) >> 12u);
  let product_bits = i32(32u - countLeadingZeros(top)) + 12;
  exponent = max(exponent, product_bits - 1 + i32(scale >> 23u) - 150);
  exponent = clamp(exponent, -126, 126);
  atomicStore(&maxima[2], u32(127 - exponent) << 23u);
}
