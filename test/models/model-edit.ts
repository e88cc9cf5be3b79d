// Deliberate damage to a float model, so a test can show that its metric notices a broken model: every
// float32 weight (initializer or Constant node, subgraphs included) whose name matches `pattern` gets its values replaced by `edit(values, name)`.
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/** A copy of `model` with the matching float32 weights edited (throws when none matched). */
export function editWeights(model: Uint8Array, pattern: RegExp, edit: (values: Float32Array, name: string) => Float32Array): Uint8Array {
  const proto = onnx.ModelProto.decode(model);
  // Weights are initializers, or Constant nodes' 'value' tensors (named after the node's output), in the
  // main graph and in every subgraph (If / Loop bodies).
  const tensors: Array<[string, onnxProto.onnx.ITensorProto]> = [];
  const visit = (graph: onnxProto.onnx.IGraphProto): void => {
    for (const t of graph.initializer ?? []) tensors.push([t.name!, t]);
    for (const n of graph.node ?? []) {
      for (const a of n.attribute ?? []) {
        if (n.opType === 'Constant' && a.name === 'value' && a.t) tensors.push([n.output![0]!, a.t]);
        if (a.g) visit(a.g);
        for (const g of a.graphs ?? []) visit(g);
      }
    }
  };
  visit(proto.graph!);
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
