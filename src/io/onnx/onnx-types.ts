/**
 * The ONNX types of the public API that do not depend on the protobuf schema: what a weight's consumers
 * are, and how external data files are found. Kept apart from the onnx-proto types so that the published
 * declarations never reach onnx-proto (whose declarations need protobufjs's global `Long`).
 *
 * @example
 * ```ts
 * const resolve: ExternalDataResolver = (location) => files.get(location);
 * const model = await OnnxModel.load(bytes, { externalData: resolve });
 * model.list()[0]?.consumers.map((c: OnnxConsumer) => c.opType);
 * ```
 * @module
 */
import type { ByteInput } from './byte-source.js';

/** One use of a weight: an input of a node, or an output of a graph. */
export interface OnnxConsumer {
  /** The node's op type, or `'(graph output)'` when the weight is an output of `graph`. */
  opType: string;
  /** The operator domain; '' is the default ONNX domain. */
  domain: string;
  nodeName: string;
  /** Path of the graph the node is in. */
  graph: string;
  /** Which input of the node the weight is (0-based); -1 for a graph output. */
  inputIndex: number;
  /** The node's int, float and string attributes (e.g. Gemm `transB`, Conv `group`). */
  attributes: Record<string, number | string | number[] | string[]>;
}

/**
 * Finds the bytes of an external data file by its `location` (a path relative to the model). Return the
 * bytes, a Blob or a `ByteSource`; throw or return undefined when it does not exist.
 */
export type ExternalDataResolver = (location: string) => ByteInput | undefined | Promise<ByteInput | undefined>;

/** Where an external tensor's bytes are. */
export interface ExternalRef {
  location: string;
  offset: number;
  /** As written in the file; the tensor's size when absent. */
  length: number | undefined;
}

/** The bytes of one external data file, in order, ready to write. */
export interface ExternalDataFile {
  /** The file name the model refers to, relative to the model's folder. */
  location: string;
  /** The file's contents, in order (padding included). */
  parts: Uint8Array[];
  byteLength: number;
  /** How many tensors it holds. */
  tensors: number;
}
