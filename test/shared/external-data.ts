// Moves a model's initializers to one external data file, for the tests of models with external data.
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/** `bytes` with its initializers named in `names` (wherever they are) moved to one external data file, `location` (default 'w.bin'). */
export function withExternalData(bytes: Uint8Array, names: string[], location = 'w.bin'): { model: Uint8Array; data: Uint8Array } {
  const decoded = onnx.ModelProto.decode(bytes);
  const chunks: Uint8Array[] = [];
  let offset = 0;
  const visit = (graph: onnxProto.onnx.IGraphProto) => {
    for (const t of graph.initializer ?? []) {
      if (!names.includes(t.name!)) continue;
      const raw = t.rawData!;
      t.externalData = [{ key: 'location', value: location }, { key: 'offset', value: String(offset) }, { key: 'length', value: String(raw.byteLength) }];
      t.dataLocation = 1;
      t.rawData = new Uint8Array(0);
      chunks.push(raw.slice());
      offset += raw.byteLength;
    }
    for (const n of graph.node ?? []) for (const a of n.attribute ?? []) if (a.g) visit(a.g);
  };
  visit(decoded.graph!);
  const data = new Uint8Array(offset);
  chunks.reduce((at, c) => { data.set(c, at); return at + c.byteLength; }, 0);
  return { model: onnx.ModelProto.encode(decoded).finish(), data };
}
