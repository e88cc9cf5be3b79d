/**
 * The one place that touches `onnx-proto` (protobufjs code generated from onnx.proto): decoding and encoding
 * a `ModelProto` with every parser failure turned into a {@link FormatError}, and the conversion of protobuf
 * 64-bit integers (protobufjs `Long` objects in Node, plain numbers in bundles without `long`) to safe
 * JavaScript numbers.
 *
 * protobufjs drops fields its schema does not know (onnx-proto follows ONNX 1.10's onnx.proto) and writes
 * repeated scalars packed, so a decoded-and-encoded model is equal field for field, not byte for byte.
 *
 * @example
 * ```ts
 * const proto = decodeModel(bytes, 'model.onnx');
 * toSafeInt(proto.graph!.initializer[0]!.dims[0]!, 'dims[0]'); // 258
 * const again = encodeModel(proto);
 * ```
 * @module
 */
import onnxProto from 'onnx-proto';
import { FormatError } from '../../errors.js';

/** The generated ONNX protobuf namespace (`onnx.ModelProto`, `onnx.TensorProto`, ...). */
export const onnx = onnxProto.onnx;
export type ModelProto = onnxProto.onnx.ModelProto;
export type GraphProto = onnxProto.onnx.GraphProto;
export type NodeProto = onnxProto.onnx.NodeProto;
export type TensorProto = onnxProto.onnx.TensorProto;
export type AttributeProto = onnxProto.onnx.AttributeProto;
export type ValueInfoProto = onnxProto.onnx.ValueInfoProto;
export type StringStringEntryProto = onnxProto.onnx.StringStringEntryProto;

// Decoded messages are class instances whose repeated fields hold class instances too; the generated
// typings only say "I…Proto" (all optional) for nested lists, so these accessors state what decode gives.
// They take decoded messages (every field present), not plain objects passed to `create`.
/**
 * A graph's nodes, typed as decoded.
 *
 * @example
 * ```ts
 * nodesOf(model.graph as GraphProto).map((n) => n.opType); // ['Equal', 'If']
 * ```
 */
export const nodesOf = (graph: GraphProto): NodeProto[] => graph.node as NodeProto[];
/**
 * A graph's initializers, typed as decoded.
 *
 * @example
 * ```ts
 * initializersOf(graph).map((t) => t.name);
 * ```
 */
export const initializersOf = (graph: GraphProto): TensorProto[] => graph.initializer as TensorProto[];
/**
 * A node's attributes, typed as decoded.
 *
 * @example
 * ```ts
 * attributesOf(node).find((a) => a.name === 'axis');
 * ```
 */
export const attributesOf = (node: NodeProto): AttributeProto[] => node.attribute as AttributeProto[];
/**
 * A graph's inputs, outputs or value_info entries, typed as decoded.
 *
 * @example
 * ```ts
 * valueInfosOf(graph.input).map((v) => v.name); // ['input', 'sr', 'h', 'c']
 * ```
 */
export const valueInfosOf = (list: GraphProto['input']): ValueInfoProto[] => list as ValueInfoProto[];

/** `TensorProto.data_location` EXTERNAL. */
export const DATA_LOCATION_EXTERNAL = 1;

/** AttributeProto.AttributeType values used here. */
export const ATTRIBUTE_TYPE = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8, GRAPHS: 10 } as const;

/** What protobufjs gives for an int64 field: a number, or a Long-like `{ low, high }` pair. */
export type ProtoInt = number | { low: number; high: number; unsigned?: boolean; toString(): string };

/**
 * An int64 protobuf value as a JavaScript number; throws FormatError naming `what` when it is not a safe
 * integer (|x| > 2^53 - 1), so that sizes and offsets are never silently rounded.
 *
 * @example
 * ```ts
 * toSafeInt(42, 'dims[0]');                              // 42
 * toSafeInt({ low: 0, high: 0x100000 } as never, 'x');   // throws FormatError: x is 2^52 * 16 ...
 * ```
 */
export function toSafeInt(value: ProtoInt | null | undefined, what: string): number {
  if (value === null || value === undefined) return 0;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new FormatError(`${what} is ${value}, not an integer JavaScript can hold exactly`);
    return value;
  }
  const big = (BigInt(value.high >>> 0) << 32n) | BigInt(value.low >>> 0);
  const signed = value.unsigned ? big : BigInt.asIntN(64, big);
  if (signed > BigInt(Number.MAX_SAFE_INTEGER) || signed < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new FormatError(`${what} is ${signed}, beyond the 2^53 - 1 JavaScript can hold exactly; the file is damaged`);
  }
  return Number(signed);
}

/**
 * Decodes ONNX protobuf bytes. Any parser failure (truncation, a bad wire type, a length past the end, a
 * nesting too deep for the stack) becomes a FormatError naming `what` and, where the parser says, the byte
 * offset.
 *
 * @example
 * ```ts
 * decodeModel(Uint8Array.of(0x0a, 0xff), 'model.onnx'); // throws FormatError: model.onnx: protobuf does not parse ...
 * ```
 */
export function decodeModel(bytes: Uint8Array, what: string): ModelProto {
  try {
    return onnx.ModelProto.decode(bytes);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new FormatError(`${what}: protobuf does not parse (${detail}); the file is truncated, damaged or not an ONNX model`,
      { cause: error });
  }
}

/**
 * Encodes a model to protobuf bytes.
 *
 * @example
 * ```ts
 * const bytes = encodeModel(decodeModel(original, 'model.onnx')); // same fields, packed repeated scalars
 * ```
 */
export function encodeModel(model: ModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

/** protobufjs's writer as `finish()` walks it: a list of operations, each writing `len` bytes of `val`. */
interface WriterOp { fn: (val: unknown, buf: Uint8Array, pos: number) => void; len: number; val: unknown; next: WriterOp | undefined }

/** Byte fields at least this long become parts of their own in {@link encodeModelParts}. */
export const MIN_PASSED_THROUGH_BYTES = 65536;

/**
 * Encodes a model as consecutive parts whose concatenation is {@link encodeModel}'s bytes: byte fields of at
 * least `minPartBytes` (tensor data), and those `passThrough` accepts, are passed through as they are, not
 * copied, and the protobuf between them is encoded into small buffers. For writing a model out without building it in one fresh buffer.
 *
 * @example
 * ```ts
 * for (const part of encodeModelParts(model)) await file.write(part); // the same file as encodeModel(model)
 * ```
 */
export function encodeModelParts(
  model: ModelProto, minPartBytes = MIN_PASSED_THROUGH_BYTES, passThrough: (bytes: Uint8Array) => boolean = () => false,
): Uint8Array[] {
  const writer = onnx.ModelProto.encode(model);
  const alloc = (writer.constructor as unknown as { alloc(size: number): Uint8Array }).alloc;
  const parts: Uint8Array[] = [];
  let first = (writer.head as WriterOp).next; // the head is a no-op
  // The operations from `first` up to `end` into one buffer, as finish() would write them.
  const flush = (end: WriterOp | undefined, bytes: number) => {
    if (bytes === 0) return;
    const buffer = alloc(bytes);
    let pos = 0;
    for (let op = first; op && op !== end; op = op.next) {
      op.fn(op.val, buffer, pos);
      pos += op.len;
    }
    parts.push(buffer);
  };
  let pending = 0;
  for (let op = first; op; op = op.next) {
    if (op.val instanceof Uint8Array && op.len === op.val.byteLength && (op.len >= minPartBytes || passThrough(op.val))) {
      flush(op, pending);
      parts.push(op.val);
      first = op.next;
      pending = 0;
    } else {
      pending += op.len;
    }
  }
  flush(undefined, pending);
  return parts;
}

/** The type of an attribute written without one (some old exporters): from the field that holds a value. */
function inferredType(attribute: AttributeProto): number {
  if (attribute.t || attribute.g || attribute.tensors.length || attribute.graphs.length) return 0; // not a simple attribute
  if (attribute.ints.length) return ATTRIBUTE_TYPE.INTS;
  if (attribute.floats.length) return ATTRIBUTE_TYPE.FLOATS;
  if (attribute.strings.length) return ATTRIBUTE_TYPE.STRINGS;
  if (attribute.s.byteLength) return ATTRIBUTE_TYPE.STRING;
  if (attribute.f !== 0) return ATTRIBUTE_TYPE.FLOAT;
  return ATTRIBUTE_TYPE.INT;
}

/**
 * A node's simple attributes (ints, floats, strings and their lists) as a plain object; tensors and graphs
 * are left out. Strings are decoded as UTF-8.
 *
 * @example
 * ```ts
 * simpleAttributes(gemmNode); // { transB: 1, alpha: 1 }
 * ```
 */
export function simpleAttributes(node: NodeProto, what: string): Record<string, number | string | number[] | string[]> {
  const out: Record<string, number | string | number[] | string[]> = Object.create(null) as Record<string, never>;
  const decoder = new TextDecoder();
  for (const attribute of attributesOf(node)) {
    const where = `${what} attribute ${JSON.stringify(attribute.name)}`;
    switch (attribute.type || inferredType(attribute)) {
      case ATTRIBUTE_TYPE.INT: out[attribute.name] = toSafeInt(attribute.i as ProtoInt, where); break;
      case ATTRIBUTE_TYPE.FLOAT: out[attribute.name] = attribute.f; break;
      case ATTRIBUTE_TYPE.STRING: out[attribute.name] = decoder.decode(attribute.s); break;
      case ATTRIBUTE_TYPE.INTS: out[attribute.name] = attribute.ints.map((v, i) => toSafeInt(v as ProtoInt, `${where}[${i}]`)); break;
      case ATTRIBUTE_TYPE.FLOATS: out[attribute.name] = [...attribute.floats]; break;
      case ATTRIBUTE_TYPE.STRINGS: out[attribute.name] = attribute.strings.map((s) => decoder.decode(s)); break;
      default: break;
    }
  }
  return out;
}

/**
 * A node's name for messages: its `name`, or `OpType#index` when it has none.
 *
 * @example
 * ```ts
 * nodeLabel(unnamedSoftmax, 3); // 'Softmax#3'
 * ```
 */
export function nodeLabel(node: NodeProto, index: number): string {
  return node.name ? node.name : `${node.opType}#${index}`;
}

