// A random MLP 256 → 512 → 384 → 300 → 64 whose weights exercise the compressor's paths: fc0 has a few large
// outliers (per-tensor schemes escalate it), fc1 is float16, fc2 holds a NaN (kept float), fc3 is plain.
import onnxProto from 'onnx-proto';
import { floatToHalfBits } from '../../src/io/half.js';
import { decodeModel, encodeModel } from '../../src/io/onnx/proto.js';
import { buildMlp } from './mlp-onnx.js';
import { rng } from './random.js';

/** The model's bytes (see the file's header). */
export function mixedMlp(seed: number): Uint8Array {
  const next = rng(seed);
  const mlp = buildMlp(onnxProto.onnx, [256, 512, 384, 300, 64], seed);
  const proto = decodeModel(mlp.model, 'mlp');
  const raw = (name: string) => proto.graph!.initializer!.find((t) => t.name === name)!;
  const [fc0, fc1, fc2] = mlp.weights.map((w) => w.slice());
  for (let k = 0; k < 6; k++) fc0![Math.floor(next() * fc0!.length)] = (next() < 0.5 ? -1 : 1) * (20 + 40 * next());
  raw('fc0.weight').rawData = new Uint8Array(fc0!.buffer);
  raw('fc1.weight').dataType = 10; // float16
  raw('fc1.weight').rawData = new Uint8Array(Uint16Array.from(fc1!, (v) => floatToHalfBits(v)).buffer);
  fc2![Math.floor(next() * fc2!.length)] = NaN;
  raw('fc2.weight').rawData = new Uint8Array(fc2!.buffer);
  return encodeModel(proto);
}
