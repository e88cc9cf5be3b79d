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

export function mlpModel(onnx, widths = MLP_WIDTHS) {
  const initializer = [];
  const node = [];
  let current = 'x';
  for (let i = 0; i + 1 < widths.length; i++) {
    const [k, n] = [widths[i], widths[i + 1]];
    const raw = (a) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    initializer.push({ name: `fc${i}.weight`, dataType: 1, dims: [k, n], rawData: raw(normal(k * n, 100 + i, 1 / Math.sqrt(k))) });
    initializer.push({ name: `fc${i}.bias`, dataType: 1, dims: [n], rawData: raw(normal(n, 200 + i, 0.1)) });
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
