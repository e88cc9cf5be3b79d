/**
 * Raising a model's default-domain opset (never lowering it) when a quantization scheme needs a newer
 * `DequantizeLinear`, without changing what the rest of the graph computes. Between opset 9 and 21 most
 * operator versions only add types or attributes whose defaults keep the old behaviour; the changes
 * listed in {@link BREAKING_CHANGES} do not. Where the old node can be rewritten exactly (an attribute
 * that became an input), it is; otherwise the upgrade is refused with a FormatError naming the node, so a
 * broken model is never written.
 *
 * Rewritten: Squeeze / Unsqueeze / ReduceSum `axes` and Split `split` (13), Split `num_outputs` and the
 * other Reduce* `axes` (18), GridSample mode names (20), Clip `min` / `max` (11), Slice `starts` / `ends` /
 * `axes` (10), and Softmax / LogSoftmax / Hardmax (13). Before 13 these coerce the input to 2-D at `axis`
 * (default 1) and normalise each row; from 13 they work along one axis (default -1). Rank inference
 * (rank-inference.ts) decides: where `axis` is the last axis (or -1) the meaning is the same and the node
 * stays; otherwise the node becomes `Flatten(axis)` → the operator on axis -1 → `Reshape` to `Shape(x)`,
 * which is the old meaning exactly. Refused: TopK, Upsample (10), Resize, Pad, Scatter (11), RoiAlign (16),
 * DFT (20), GroupNormalization (21), and any model below opset 9.
 *
 * @example
 * ```ts
 * checkOpsetUpgrade(model.proto, 16, 21, 'vad.onnx');   // ok: ReduceMean nodes can be rewritten
 * const changed = upgradeOpset(model.proto, 21, names); // ['ReduceMean_12 in graph/If_25.then_branch: axes attribute → input', ...]
 * ```
 * @module
 */
import { FormatError } from '../../errors.js';
import { ONNX_INT64 } from './dtypes.js';
import { listGraphs } from './graph-index.js';
import type { NameAllocator } from './names.js';
import { type RankTable, inferRanks } from './rank-inference.js';
import {
  ATTRIBUTE_TYPE, type GraphProto, type ModelProto, type NodeProto, type ProtoInt, attributesOf, nodeLabel, nodesOf, onnx,
  toSafeInt,
} from './proto.js';

/** Rewrites a node in place (adding nodes next to it where needed) for the new version; returns what it did. */
type Converter = (node: NodeProto, graph: GraphProto, names: NameAllocator) => string;
/** Says whether a node needs nothing, can be converted, or must be refused (with the reason); `ranks` from rank inference. */
type Check = (node: NodeProto, ranks: RankTable) => 'unchanged' | 'convert' | string;

/** A change of an operator at `version` that alters old nodes' meaning or signature. */
export interface BreakingChange { version: number; change: string; check?: Check; convert?: Converter }

/** The lowest opset an upgrade starts from: below 9 too many operators changed. */
export const MIN_UPGRADABLE_OPSET = 9;

const attribute = (node: NodeProto, name: string) => attributesOf(node).find((a) => a.name === name);

/** Moves an INTS attribute to a new int64 initializer input at `inputIndex` (the ONNX 13/18 pattern). */
function attributeToInput(name: string, inputIndex: number): Converter {
  return (node, graph, names) => {
    const found = attribute(node, name);
    if (!found) return `${name}: no attribute, nothing to move`;
    const values = found.ints.map((v, i) => toSafeInt(v as ProtoInt, `${nodeLabel(node, 0)} ${name}[${i}]`));
    const raw = new Uint8Array(8 * values.length);
    const view = new DataView(raw.buffer);
    values.forEach((v, i) => view.setBigInt64(8 * i, BigInt(v), true));
    const tensorName = names.fresh(`${node.output[0] || node.name || node.opType}_${name}`);
    graph.initializer.push(onnx.TensorProto.create({ name: tensorName, dataType: ONNX_INT64, dims: [values.length], rawData: raw }));
    node.attribute = attributesOf(node).filter((a) => a !== found);
    while (node.input.length < inputIndex) node.input.push('');
    node.input.splice(inputIndex, 0, tensorName);
    return `${name} attribute → input ${JSON.stringify(tensorName)}`;
  };
}

/**
 * Clip-6's float `min` / `max` attributes become scalar float32 initializer inputs 1 and 2 (Clip-11). An
 * absent bound stays absent (an empty input name). Clip-6 nodes on float32 data are the case seen in real
 * exported models; a float16 / double Clip would get a float32 bound, which onnxruntime rejects at load
 * time rather than computing something else.
 */
const clipBoundsToInputs: Converter = (node, graph, names) => {
  const moved: string[] = [];
  const bounds = ['min', 'max'].map((name) => {
    const found = attribute(node, name);
    if (!found) return '';
    const tensorName = names.fresh(`${node.output[0] || node.name || 'Clip'}_${name}`);
    graph.initializer.push(onnx.TensorProto.create({ name: tensorName, dataType: 1, dims: [], floatData: [found.f] }));
    moved.push(`${name} ${found.f}`);
    return tensorName;
  });
  node.attribute = attributesOf(node).filter((a) => a.name !== 'min' && a.name !== 'max');
  node.input.splice(1, node.input.length - 1, ...bounds);
  while (node.input.length > 1 && node.input[node.input.length - 1] === '') node.input.pop();
  return `${moved.join(', ') || 'no bounds'} attributes → inputs`;
};

/** Slice-1's `starts` / `ends` / `axes` attributes become int64 inputs 1, 2, 3 (Slice-10; same meaning). */
const sliceAttributesToInputs: Converter = (node, graph, names) => {
  const done = ['starts', 'ends', 'axes'].filter((name) => attribute(node, name))
    .map((name, i) => attributeToInput(name, i + 1)(node, graph, names));
  return done.join('; ');
};

const convertIfAttribute = (name: string): Check => (node) => (attribute(node, name) ? 'convert' : 'unchanged');

const splitNumOutputs: BreakingChange = {
  version: 18, change: 'Split needs num_outputs when no split input is given',
  check: (node) => (node.input.length >= 2 && node.input[1] ? 'unchanged' : 'convert'),
  convert: (node) => {
    node.attribute.push(onnx.AttributeProto.create({ name: 'num_outputs', type: ATTRIBUTE_TYPE.INT, i: node.output.length }));
    return `num_outputs = ${node.output.length}`;
  },
};

/**
 * Softmax-family nodes below 13 coerce the input to 2-D at `axis` (default 1). Same meaning from 13 when
 * `axis` is the last axis; else rewritten as Flatten → op(axis -1) → Reshape to the input's shape.
 */
const softmaxAxis: BreakingChange = {
  version: 13, change: 'the axis now names one axis (default -1) instead of flattening to 2-D from it (default 1)',
  check: (node, ranks) => {
    const found = attribute(node, 'axis');
    const axis = found ? toSafeInt(found.i as ProtoInt, 'axis') : 1;
    const rank = ranks.ranks.get(node.input[0] ?? '');
    return axis === -1 || (rank !== undefined && axis === rank - 1) ? 'unchanged' : 'convert';
  },
  convert: (node, graph, names) => {
    const found = attribute(node, 'axis');
    const axis = found ? toSafeInt(found.i as ProtoInt, 'axis') : 1;
    const [input] = node.input as string[];
    const [output] = node.output as string[];
    const label = node.name || output || node.opType;
    const flat = names.fresh(`${label}_flat`);
    const normalised = names.fresh(`${label}_2d`);
    const shape = names.fresh(`${label}_shape`);
    const flatten = onnx.NodeProto.create({
      name: names.fresh(`${label}_Flatten`), opType: 'Flatten', domain: '', input: [input!], output: [flat],
      attribute: [onnx.AttributeProto.create({ name: 'axis', type: ATTRIBUTE_TYPE.INT, i: axis })],
    });
    const shapeOf = onnx.NodeProto.create({ name: names.fresh(`${label}_Shape`), opType: 'Shape', domain: '', input: [input!], output: [shape] });
    const reshape = onnx.NodeProto.create({ name: names.fresh(`${label}_Reshape`), opType: 'Reshape', domain: '', input: [normalised, shape], output: [output!] });
    node.input = [flat];
    node.output = [normalised];
    node.attribute = attributesOf(node).filter((a) => a !== found);
    node.attribute.push(onnx.AttributeProto.create({ name: 'axis', type: ATTRIBUTE_TYPE.INT, i: -1 }));
    const at = nodesOf(graph).indexOf(node);
    graph.node.splice(at, 1, flatten, shapeOf, node, reshape);
    return `axis ${axis} of a ${node.opType} whose axis is not the last: Flatten(axis ${axis}) → ${node.opType}(axis -1) → Reshape to the input's shape`;
  },
};

const reduceAxes = (op: string): [string, BreakingChange[]] => [op, [{
  version: 18, change: 'axes moved from an attribute to an input', check: convertIfAttribute('axes'), convert: attributeToInput('axes', 1),
}]];

const refused = (version: number, change: string): BreakingChange[] => [{ version, change }];

/** The operator changes between opset 9 and 21 that matter to old nodes (see the module documentation). */
export const BREAKING_CHANGES: Readonly<Record<string, readonly BreakingChange[]>> = {
  Slice: [{ version: 10, change: 'starts, ends and axes moved from attributes to inputs', check: convertIfAttribute('starts'), convert: sliceAttributesToInputs }],
  TopK: refused(10, 'k moved from an attribute to an input'),
  Upsample: refused(10, 'Upsample is deprecated; use Resize'),
  Resize: refused(11, 'the default coordinate transformation changed and roi became an input'),
  Clip: [{
    version: 11, change: 'min and max moved from attributes to inputs',
    check: (node) => (attribute(node, 'min') || attribute(node, 'max') ? 'convert' : 'unchanged'), convert: clipBoundsToInputs,
  }],
  Pad: refused(11, 'pads moved from an attribute to an input'),
  Scatter: refused(11, 'Scatter is deprecated; use ScatterElements'),
  Softmax: [softmaxAxis],
  LogSoftmax: [softmaxAxis],
  Hardmax: [softmaxAxis],
  Squeeze: [{ version: 13, change: 'axes moved from an attribute to an input', check: convertIfAttribute('axes'), convert: attributeToInput('axes', 1) }],
  Unsqueeze: [{ version: 13, change: 'axes moved from an attribute to an input', check: convertIfAttribute('axes'), convert: attributeToInput('axes', 1) }],
  ReduceSum: [{ version: 13, change: 'axes moved from an attribute to an input', check: convertIfAttribute('axes'), convert: attributeToInput('axes', 1) }],
  Split: [
    { version: 13, change: 'split moved from an attribute to an input', check: convertIfAttribute('split'), convert: attributeToInput('split', 1) },
    splitNumOutputs,
  ],
  RoiAlign: refused(16, 'the default coordinate_transformation_mode changed to half_pixel'),
  ...Object.fromEntries(['ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSum',
    'ReduceLogSumExp', 'ReduceSumSquare'].map(reduceAxes)),
  GridSample: [{
    version: 20, change: 'mode names changed (bilinear → linear, bicubic → cubic)',
    check: (node) => {
      const mode = attribute(node, 'mode');
      const text = mode ? new TextDecoder().decode(mode.s) : 'bilinear';
      return text === 'nearest' ? 'unchanged' : 'convert';
    },
    convert: (node) => {
      const mode = attribute(node, 'mode');
      const text = mode ? new TextDecoder().decode(mode.s) : 'bilinear';
      const renamed = text === 'bicubic' ? 'cubic' : 'linear';
      node.attribute = attributesOf(node).filter((a) => a !== mode);
      node.attribute.push(onnx.AttributeProto.create({ name: 'mode', type: ATTRIBUTE_TYPE.STRING, s: new TextEncoder().encode(renamed) }));
      return `mode ${text} → ${renamed}`;
    },
  }],
  DFT: refused(20, 'axis moved from an attribute to an input'),
  GroupNormalization: refused(21, 'scale and bias are now per channel instead of per group'),
};

/**
 * The lowest IR version a model at opset `opset` must declare (the ONNX release that introduced the opset).
 *
 * @example
 * ```ts
 * irVersionForOpset(13); // 7
 * irVersionForOpset(21); // 10 (also the first IR with int4 / uint4)
 * ```
 */
export function irVersionForOpset(opset: number): number {
  if (opset <= 8) return 3;
  if (opset === 9) return 4;
  if (opset === 10) return 5;
  if (opset === 11) return 6;
  if (opset <= 14) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  if (opset <= 22) return 10;
  return 11;
}

const isDefaultDomain = (domain: string): boolean => domain === '' || domain === 'ai.onnx';

/**
 * Walks every default-domain node whose operator changed in (from, to], each node's changes in version
 * order. Returns the refusals; with `names`, also applies each conversion as it goes, so a later check
 * sees the node as the earlier conversion left it (Split: `split` becomes an input at 13, so no
 * `num_outputs` is added at 18).
 */
function survey(model: ModelProto, from: number, to: number, names?: NameAllocator): { refusals: string[]; changed: string[] } {
  const refusals: string[] = [];
  const changed: string[] = [];
  const ranks = inferRanks(model.graph as GraphProto);
  for (const { graph, path } of listGraphs(model.graph as GraphProto)) {
    // A copy: converters may add nodes next to the one they rewrite.
    [...nodesOf(graph)].forEach((node, index) => {
      if (!isDefaultDomain(node.domain)) return;
      const changes = Object.hasOwn(BREAKING_CHANGES, node.opType) ? BREAKING_CHANGES[node.opType]! : [];
      for (const change of changes) {
        if (change.version <= from || change.version > to) continue;
        const where = `${node.opType} node ${nodeLabel(node, index)} in ${path}`;
        const verdict = change.check ? change.check(node, ranks) : 'refuse';
        if (verdict === 'unchanged') continue;
        if (verdict === 'convert' && change.convert) {
          if (names) changed.push(`${where}: ${change.convert(node, graph, names)}`);
        } else {
          refusals.push(`${where} (opset ${change.version}: ${change.change}${verdict === 'refuse' ? '' : `; ${verdict}`})`);
        }
      }
    });
  }
  return { refusals, changed };
}

/**
 * Throws FormatError when the model cannot be raised from opset `from` to `to` without changing what it
 * computes, naming the first offending nodes (up to 5) and the fix. `reason` says what needs the new opset.
 *
 * @example
 * ```ts
 * checkOpsetUpgrade(proto, 12, 13, 'model.onnx', 'per-channel DequantizeLinear'); // throws if a Softmax has axis 1
 * ```
 */
export function checkOpsetUpgrade(model: ModelProto, from: number, to: number, name: string, reason = 'the requested scheme'): void {
  if (to <= from) return;
  if (from < MIN_UPGRADABLE_OPSET) {
    throw new FormatError(`${name}: ${reason} needs opset ${to} but the model is opset ${from}; webgpu-quant raises opsets from `
      + `${MIN_UPGRADABLE_OPSET} up. Convert it first (onnx.version_converter.convert_version(model, ${to})) or choose a scheme `
      + 'the model\'s opset can take');
  }
  const { refusals } = survey(model, from, to);
  if (refusals.length) {
    throw new FormatError(`${name}: ${reason} needs opset ${to} (the model is opset ${from}), and raising it would change `
      + `${refusals.length} node(s): ${refusals.slice(0, 5).join('; ')}${refusals.length > 5 ? '; ...' : ''}. Convert the model with `
      + `onnx.version_converter first, or use a scheme opset ${from} can take (int8 per channel needs 13, per tensor 10)`);
  }
}

/**
 * Raises the default-domain opset of `model` to `to` in place (after {@link checkOpsetUpgrade}), rewriting
 * the nodes that need it, and raises the IR version to what opset `to` requires. Returns one line per
 * rewritten node. A model already at `to` or higher keeps its opset (only a too-low IR version is raised).
 *
 * @example
 * ```ts
 * upgradeOpset(proto, 21, new NameAllocator(proto.graph!), 'vad.onnx'); // ['ReduceMean node ... : axes attribute → input "..."']
 * ```
 */
export function upgradeOpset(model: ModelProto, to: number, names: NameAllocator, name: string, reason?: string): string[] {
  const imports = model.opsetImport.filter((o) => isDefaultDomain(o.domain ?? ''));
  const from = imports.length ? Math.max(...imports.map((o, i) => toSafeInt(o.version as ProtoInt, `opset_import[${i}]`))) : 0;
  const changed: string[] = [];
  if (from >= to && imports.length) {
    // Nothing to raise; the IR version below still has to admit what was written (int4 needs IR 10).
  } else if (imports.length) {
    checkOpsetUpgrade(model, from, to, name, reason);
    changed.push(...survey(model, from, to, names).changed);
    for (const entry of imports) entry.version = to;
  } else {
    model.opsetImport.push(onnx.OperatorSetIdProto.create({ domain: '', version: to }));
  }
  const ir = toSafeInt(model.irVersion as ProtoInt, 'ir_version');
  if (ir < irVersionForOpset(to)) model.irVersion = irVersionForOpset(to);
  return changed;
}
