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

// With `external` ({ location, write(bytes) }), the weights and biases go to write() in order, and the model refers to
// them in `location` (ONNX external data, as big models come): the same values, the model file a few hundred bytes.
export function mlpModel(onnx, widths = MLP_WIDTHS, external = undefined) {
  let offset = 0;
  const tensor = (name, dims, values) => {
    const raw = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    if (!external) return { name, dataType: 1, dims, rawData: raw };
    external.write(raw);
    const entry = { name, dataType: 1, dims, dataLocation: 1, externalData: [
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
  const io = (name, width) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'batch' }, { dimValue: width }] } } } });
  return onnx.ModelProto.encode({
    irVersion: 8, opsetImport: [{ domain: '', version: 17 }],
    graph: { name: 'mlp', initializer, node, input: [io('x', widths[0])], output: [io('y', widths.at(-1))] },
  }).finish();
}
