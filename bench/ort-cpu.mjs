// The CPU path beside onnxruntime's own CPU kernels, in the same process and the same rounds (bench/cpu-kernels.mjs
// runs it; `--no-ort` leaves it out): QuantizeLinear and DequantizeLinear, int8, per tensor, axis 0 and axis 1,
// on the bench's [rows, cols] float32 matrix, as one-node ONNX models (opset 13, float32 scales, int8 zero
// points) in
//   - onnxruntime-web's wasm EP running in Node (the same WebAssembly build a browser runs; one thread, as in a
//     page that is not cross-origin isolated), and
//   - onnxruntime-node's CPU EP with one intra-op thread (native code, SIMD where its kernels have it),
// beside quantizePerTensor / quantizePerChannel / dequantize with backend 'cpu' (one thread; the pool is the
// compressor's, not these calls'). Every runtime's output is compared with ours element by element: onnxruntime
// divides by the scale where PyTorch (and this library) multiplies by its float32 inverse, so a few elements may
// round the other way; the count is reported, never hidden.
import onnxProto from 'onnx-proto';
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { dequantize, quantizePerChannel, quantizePerTensor, tensor } from '../dist/index.js';

ortWeb.env.wasm.numThreads = 1;

/** A one-node QuantizeLinear or DequantizeLinear model over a [rows, cols] input, scales on `axis` (or per tensor). */
function oneNodeModel(op, rows, cols, scales, axis) {
  const { onnx } = onnxProto;
  const perTensor = axis === undefined;
  const dims = perTensor ? [] : [scales.length];
  const quantize = op === 'quantize';
  const inType = quantize ? onnx.TensorProto.DataType.FLOAT : onnx.TensorProto.DataType.INT8;
  const outType = quantize ? onnx.TensorProto.DataType.INT8 : onnx.TensorProto.DataType.FLOAT;
  const shape = { dim: [{ dimValue: rows }, { dimValue: cols }] };
  return onnx.ModelProto.encode({
    irVersion: 8, opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: op,
      node: [{
        opType: quantize ? 'QuantizeLinear' : 'DequantizeLinear', name: op, input: ['x', 'scale', 'zero_point'], output: ['y'],
        attribute: perTensor ? [] : [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: axis }],
      }],
      initializer: [
        { name: 'scale', dataType: onnx.TensorProto.DataType.FLOAT, dims, rawData: new Uint8Array(scales.buffer.slice(0)) },
        { name: 'zero_point', dataType: onnx.TensorProto.DataType.INT8, dims, rawData: new Uint8Array(scales.length) },
      ],
      input: [{ name: 'x', type: { tensorType: { elemType: inType, shape } } }],
      output: [{ name: 'y', type: { tensorType: { elemType: outType, shape } } }],
    },
  }).finish();
}

/** Symmetric int8 scales (absmax / 127) per tensor (axis undefined), per row (0) or per column (1). */
function absmaxScales(data, rows, cols, axis) {
  const n = axis === undefined ? 1 : axis === 0 ? rows : cols;
  const peak = new Float32Array(n);
  for (let r = 0, i = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++, i++) {
      const k = axis === undefined ? 0 : axis === 0 ? r : c;
      const a = Math.abs(data[i]);
      if (a > peak[k]) peak[k] = a;
    }
  }
  return peak.map((m) => Math.max(Math.fround(m / 127), 1.1920928955078125e-7));
}

const mid = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];

function mismatches(a, b) {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) n++;
  return n;
}

/** One case: warm-up calls that also count the elements differing from ours, then `reps` interleaved rounds. */
async function timeCase(runners, expected, reps) {
  const mismatchCounts = {};
  const ms = {};
  for (const [name, run] of Object.entries(runners)) {
    mismatchCounts[name] = mismatches(await run(), expected);
    ms[name] = [];
  }
  for (let r = 0; r < reps; r++) {
    for (const [name, run] of Object.entries(runners)) {
      const t0 = performance.now();
      await run();
      ms[name].push(performance.now() - t0);
    }
  }
  const medianMs = Object.fromEntries(Object.entries(ms).map(([name, list]) => [name, mid(list)]));
  return { ms, medianMs, mismatches: mismatchCounts };
}

/**
 * Runs every case for `reps` interleaved rounds (ours, onnxruntime-web wasm, onnxruntime-node, one call each per
 * round, after one warm-up call each) and returns one record per case: medians in ms and mismatch counts.
 */
export async function ortCpuCases({ data, rows, cols, reps, log = () => {} }) {
  const x = tensor(data, [rows, cols]);
  const results = [];
  for (const layout of ['per tensor', 'axis 0', 'axis 1']) {
    const axis = layout === 'per tensor' ? undefined : Number(layout.slice(5));
    const scales = absmaxScales(data, rows, cols, axis);
    const zeros = new Int32Array(scales.length);
    const quantize = () => (axis === undefined
      ? quantizePerTensor(x, scales[0], 0, 'qint8', { backend: 'cpu' })
      : quantizePerChannel(x, scales, zeros, axis, 'qint8', { backend: 'cpu' }));
    const q = await quantize();
    const dequantizeQ = () => dequantize(q, { backend: 'cpu' });
    const ints = q.intReprView();
    const floats = (await dequantizeQ()).data;
    for (const op of ['quantize', 'dequantize']) {
      const model = oneNodeModel(op, rows, cols, scales, axis);
      const web = await ortWeb.InferenceSession.create(model, { executionProviders: ['wasm'] });
      const node = await ortNode.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1 });
      try {
        const [input, type] = op === 'quantize' ? [data, 'float32'] : [ints, 'int8'];
        const runners = {
          ours: async () => (op === 'quantize' ? (await quantize()).intReprView() : (await dequantizeQ()).data),
          'onnxruntime-web wasm': async () => (await web.run({ x: new ortWeb.Tensor(type, input, [rows, cols]) })).y.data,
          'onnxruntime-node': async () => (await node.run({ x: new ortNode.Tensor(type, input, [rows, cols]) })).y.data,
        };
        const record = { op, dtype: 'int8', layout, elements: rows * cols, ...await timeCase(runners, op === 'quantize' ? ints : floats, reps) };
        log(`  ${op} ${layout}: ours ${record.medianMs.ours.toFixed(1)} ms, onnxruntime-web wasm ${record.medianMs['onnxruntime-web wasm'].toFixed(1)} ms, `
          + `onnxruntime-node ${record.medianMs['onnxruntime-node'].toFixed(1)} ms`);
        results.push(record);
      } finally {
        await web.release();
        await node.release();
      }
    }
  }
  return {
    versions: { web: ortWeb.env.versions.web, node: ortNode.env.versions?.node ?? '', wasmThreads: ortWeb.env.wasm.numThreads, nodeThreads: 1 },
    cases: results,
  };
}
