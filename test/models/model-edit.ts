// Deliberate damage to a float model, so a test can show that its metric notices a broken model: every
// float32 weight (initializer or Constant node) whose name matches `pattern` gets its values replaced by `edit(values, name)`.
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/** A copy of `model` with the matching float32 weights edited (throws when none matched). */
export function editWeights(model: Uint8Array, pattern: RegExp, edit: (values: Float32Array, name: string) => Float32Array): Uint8Array {
  const proto = onnx.ModelProto.decode(model);
  const graph = proto.graph!;
  // Weights are initializers, or Constant nodes' 'value' tensors (named after the node's output).
  const tensors: Array<[string, onnxProto.onnx.ITensorProto]> = [
    ...(graph.initializer ?? []).map((t): [string, onnxProto.onnx.ITensorProto] => [t.name!, t]),
    ...(graph.node ?? []).filter((n) => n.opType === 'Constant')
      .flatMap((n) => (n.attribute ?? []).filter((a) => a.name === 'value' && a.t).map((a): [string, onnxProto.onnx.ITensorProto] => [n.output![0]!, a.t!])),
  ];
  let changed = 0;
  for (const [name, t] of tensors) {
    if (!pattern.test(name) || t.dataType !== 1) continue;
    let values: Float32Array;
    if (t.rawData?.byteLength) values = new Float32Array(new Uint8Array(t.rawData).buffer); // a copy: aligned, not a view
    else values = Float32Array.from(t.floatData ?? []);
    const edited = edit(values, name);
    t.rawData = new Uint8Array(edited.buffer, edited.byteOffset, edited.byteLength);
    t.floatData = [];
    changed++;
  }
  if (changed === 0) throw new Error(`no float32 initializer matches ${pattern}`);
  return onnx.ModelProto.encode(proto).finish();
}

/** Each value rounded to a per-tensor symmetric int8 grid (scale = absmax / 127), kept in float. */
export function perTensorInt8(values: Float32Array): Float32Array {
  const scale = values.reduce((m, v) => Math.max(m, Math.abs(v)), 0) / 127;
  return values.map((v) => (scale ? Math.round(v / scale) * scale : v));
}
