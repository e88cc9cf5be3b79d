// A multi-layer perceptron as ONNX bytes, for the MatMulNBits tests and bench: x [batch, widths[0]] →
// (MatMul W_i, Add b_i, Relu) … → y, the last layer without Relu. Weights are seeded normal values from a
// cheap PRNG (mulberry32 + Box–Muller), scaled by 1/sqrt(fan-in) so activations stay O(1). The protobuf
// encoder is passed in, so Node tests (onnx-proto) and pages (webgpu-quant/internals) share the builder.
import { rng } from './random.js';

/** The part of onnx-proto's `onnx` namespace the builder uses. */
export interface OnnxEncoder {
  ModelProto: { encode(model: object): { finish(): Uint8Array } };
}

export interface Mlp {
  model: Uint8Array;
  weights: Float32Array[];
  biases: Float32Array[];
}

/** Seeded normal(0, sigma) float32 values. */
export function seededNormal(n: number, seed: number, sigma = 1): Float32Array {
  const next = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(Math.max(next(), 1e-12))) * sigma;
    const t = 2 * Math.PI * next();
    out[i] = r * Math.cos(t);
    if (i + 1 < n) out[i + 1] = r * Math.sin(t);
  }
  return out;
}

const bytesOf = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** An MLP of layers widths[i] → widths[i + 1]; input 'x' [batch, widths[0]] (batch symbolic), output 'y'. */
export function buildMlp(onnx: OnnxEncoder, widths: number[], seed: number, opset = 17): Mlp {
  const weights: Float32Array[] = [];
  const biases: Float32Array[] = [];
  const initializer: object[] = [];
  const node: object[] = [];
  let current = 'x';
  for (let i = 0; i + 1 < widths.length; i++) {
    const [k, n] = [widths[i]!, widths[i + 1]!];
    const w = seededNormal(k * n, seed + 101 * i, 1 / Math.sqrt(k));
    const b = seededNormal(n, seed + 101 * i + 7, 0.1);
    weights.push(w);
    biases.push(b);
    initializer.push({ name: `fc${i}.weight`, dataType: 1, dims: [k, n], rawData: bytesOf(w) });
    initializer.push({ name: `fc${i}.bias`, dataType: 1, dims: [n], rawData: bytesOf(b) });
    const last = i + 2 === widths.length;
    node.push({ opType: 'MatMul', name: `fc${i}.MatMul`, input: [current, `fc${i}.weight`], output: [`fc${i}.mm`] });
    node.push({ opType: 'Add', name: `fc${i}.Add`, input: [`fc${i}.mm`, `fc${i}.bias`], output: [last ? 'y' : `fc${i}.pre`] });
    if (!last) node.push({ opType: 'Relu', name: `fc${i}.Relu`, input: [`fc${i}.pre`], output: [`fc${i}.out`] });
    current = `fc${i}.out`;
  }
  const io = (name: string, width: number) => ({
    name, type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'batch' }, { dimValue: width }] } } },
  });
  const model = onnx.ModelProto.encode({
    irVersion: 8, opsetImport: [{ domain: '', version: opset }], producerName: 'mlp-onnx',
    graph: { name: 'mlp', initializer, node, input: [io('x', widths[0]!)], output: [io('y', widths[widths.length - 1]!)] },
  }).finish();
  return { model, weights, biases };
}
