// The bench MLP: x → (MatMul W, Add b, Relu) × 4, widths 1024 → 4096 → 1024 → 4096 → 1024 by default (four
// float32 weights of [1024, 4096] / [4096, 1024], 64 MiB), seeded normal weights scaled 1 / sqrt(fan-in), as an
// ONNX opset 17 model. Shared by bench/contrib-mlp.mjs (Node) and the whole-model profile (bench/page-profile.ts),
// so both measure the same bytes. `onnx` is onnx-proto's namespace (`onnxProto.onnx`).

export const MLP_WIDTHS = [1024, 4096, 1024, 4096, 1024];

export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function normal(n, seed, sigma) {
  const next = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(Math.max(next(), 1e-12))) * Math.cos(2 * Math.PI * next()) * sigma;
  return out;
}

/** float32 values to float16 bits, rounded to nearest even (overflow to ±Infinity; the bench's values never reach it). */
export function halfBits(values) {
  const out = new Uint16Array(values.length);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let i = 0; i < values.length; i++) {
    f[0] = values[i];
    const b = u[0];
    const sign = (b >>> 16) & 0x8000;
    const e = ((b >>> 23) & 0xff) - 112; // the float16 exponent field
    let m = b & 0x7fffff;
    if (e >= 31) { out[i] = sign | 0x7c00; continue; }
    let half;
    if (e <= 0) { // subnormal in float16 (or zero)
      if (e < -10) { out[i] = sign; continue; }
      m |= 0x800000;
      const shift = 14 - e;
      half = m >>> shift;
      const rest = m & ((1 << shift) - 1);
      const halfway = 1 << (shift - 1);
      if (rest > halfway || (rest === halfway && (half & 1))) half++;
    } else {
      half = (e << 10) | (m >>> 13);
      const rest = m & 0x1fff;
      if (rest > 0x1000 || (rest === 0x1000 && (half & 1))) half++; // a carry into the exponent is right
    }
    out[i] = sign | half;
  }
  return out;
}

// With `external` ({ location, write(bytes) }), the weights and biases go to write() in order, and the model refers to
// them in `location` (ONNX external data, as big models come): the same values, the model file a few hundred bytes.
// With `float16`, every weight and bias is stored as float16 (ONNX data type 10), as half-precision exports come.
export function mlpModel(onnx, widths = MLP_WIDTHS, external = undefined, { float16 = false } = {}) {
  let offset = 0;
  const tensor = (name, dims, floats) => {
    const values = float16 ? halfBits(floats) : floats;
    const raw = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    const dataType = float16 ? 10 : 1;
    if (!external) return { name, dataType, dims, rawData: raw };
    external.write(raw);
    const entry = { name, dataType, dims, dataLocation: 1, externalData: [
      { key: 'location', value: external.location }, { key: 'offset', value: String(offset) }, { key: 'length', value: String(raw.byteLength) }] };
    offset += raw.byteLength;
    return entry;
  };
  const initializer = [];
  const node = [];
  let current = 'x';
  for (let i = 0; i + 1 < widths.length; i++) {
    const [k, n] = [widths[i], widths[i + 1]];
    initializer.push(tensor(`fc${i}.weight`, [k, n], normal(k * n, 100 + i, 1 / Math.sqrt(k))));
    initializer.push(tensor(`fc${i}.bias`, [n], normal(n, 200 + i, 0.1)));
    const last = i + 2 === widths.length;
    node.push({ opType: 'MatMul', name: `fc${i}.MatMul`, input: [current, `fc${i}.weight`], output: [`fc${i}.mm`] });
    node.push({ opType: 'Add', name: `fc${i}.Add`, input: [`fc${i}.mm`, `fc${i}.bias`], output: [last ? 'y' : `fc${i}.pre`] });
    if (!last) node.push({ opType: 'Relu', name: `fc${i}.Relu`, input: [`fc${i}.pre`], output: [`fc${i}.out`] });
    current = `fc${i}.out`;
  }
  const io = (name, width) => ({ name, type: { tensorType: { elemType: float16 ? 10 : 1, shape: { dim: [{ dimParam: 'batch' }, { dimValue: width }] } } } });
  return onnx.ModelProto.encode({
    irVersion: 8, opsetImport: [{ domain: '', version: 17 }],
    graph: { name: 'mlp', initializer, node, input: [io('x', widths[0])], output: [io('y', widths.at(-1))] },
  }).finish();
}
