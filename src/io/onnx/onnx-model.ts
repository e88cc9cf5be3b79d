/**
 * `OnnxModel`: an ONNX file decoded with `onnx-proto`, its opset imports, and its weights as a
 * {@link WeightReader} (initializers and `Constant` tensors of every graph and subgraph, each with where it
 * lives and which operators consume it). Every weight's shape and stored length are checked when the model
 * loads; external data is read only when a weight is read.
 *
 * Weight names: a tensor's own name when it is unique in the model; a name defined in several graphs is
 * listed as `name@graph-path` (e.g. `417@graph/If_25.then_branch/If_177.then_branch`).
 *
 * @example
 * ```ts
 * import { readFile } from 'node:fs/promises';
 * const model = await OnnxModel.load(await readFile('silero_vad_legacy.onnx'));
 * model.defaultOpset();                       // 16
 * const w = model.info('model.first_layer.0.dw_conv.0.weight');
 * w.shape; w.dtype; w.consumers[0].opType;    // [258, 1, 5], 'float32', 'Conv'
 * await model.readFloat32(w.name);            // Float32Array(1290)
 * ```
 * @module
 */
import { FormatError, InvalidArgumentError } from '../../errors.js';
import { float32View, toFloat32 } from '../float-convert.js';
import type { WeightInfo, WeightReader } from '../weights.js';
import { type ByteInput, byteSize, readAllBytes } from './byte-source.js';
import { type IndexedWeight, indexWeights, listGraphs } from './graph-index.js';
import type { ExternalDataResolver, ExternalRef, OnnxConsumer } from './onnx-types.js';
import { type GraphProto, type ModelProto, type ProtoInt, decodeModel, encodeModel, encodeModelParts, nodesOf, toSafeInt } from './proto.js';
import { type TensorLayout, describeTensor, tensorBytes } from './tensor-data.js';
import { decodeDeferred, deferredRange, isOwnPart, isPlaceholder, materialized, readDeferredInto } from './deferred-raw-data.js';
import { type ByteSource, type FileRange, fileRangeOf, readExactlyInto } from '../byte-source.js';

/** One ONNX weight's description. */
export interface OnnxWeightInfo extends WeightInfo {
  /** The tensor's name in its graph (`name` adds `@graph-path` when the name is not unique in the model). */
  tensorName: string;
  /** Path of the graph holding it: `graph`, or e.g. `graph/If_25.then_branch`. */
  graph: string;
  source: 'initializer' | 'constant';
  /** The Constant node's name (source 'constant'). */
  nodeName?: string;
  /** The ONNX data type name, e.g. 'FLOAT', 'INT64'. */
  onnxDataType: string;
  /** Where the data is when stored outside the model file. */
  external?: ExternalRef;
  /** Every node input (and graph output) that reads it, across subgraphs. */
  consumers: OnnxConsumer[];
  /** Also listed as a graph input (an overridable default). */
  graphInput: boolean;
}

/** Options of {@link OnnxModel.load}. */
export interface OnnxLoadOptions {
  /** Resolves external data files by their relative `location`; needed only for models that use them. */
  externalData?: ExternalDataResolver;
  /** The model's name in error messages (e.g. its file name); default 'ONNX model'. */
  name?: string;
}

/** One opset import. */
export interface OpsetImport { domain: string; version: number }

/** @internal A weight's index entry and checked layout. */
export interface WeightEntry { info: OnnxWeightInfo; indexed: IndexedWeight; layout: TensorLayout }

const isDefaultDomain = (domain: string): boolean => domain === '' || domain === 'ai.onnx';

/**
 * A decoded ONNX model. Build it with {@link OnnxModel.load} (any byte input) or {@link OnnxModel.decode}
 * (bytes in memory).
 *
 * @example
 * ```ts
 * const model = OnnxModel.decode(bytes, { name: 'vad.onnx' });
 * for (const w of model.list()) if (w.dtype === 'float32') console.log(w.name, w.shape, w.consumers.map((c) => c.opType));
 * ```
 */
export class OnnxModel implements WeightReader {
  /** @internal The decoded protobuf (onnx-proto's types, kept out of the published declarations). Writers change it in place. */
  readonly proto: ModelProto;
  /** The model's name in messages. */
  readonly name: string;
  /** Bytes of the file it was decoded from. */
  readonly byteLength: number;
  readonly #resolve: ExternalDataResolver | undefined;
  readonly #entries = new Map<string, WeightEntry>();

  /** @internal Use OnnxModel.load or OnnxModel.decode. */
  constructor(proto: ModelProto, byteLength: number, options: OnnxLoadOptions = {}) {
    this.proto = proto;
    this.name = options.name ?? 'ONNX model';
    this.byteLength = byteLength;
    this.#resolve = options.externalData;
    this.#check();
  }

  /**
   * Reads and decodes a model from bytes, an ArrayBuffer, a Blob / File, or a byte-range source.
   *
   * @example
   * ```ts
   * const model = await OnnxModel.load(fileFromPicker, { externalData: (loc) => otherFiles.get(loc) });
   * ```
   */
  static async load(input: ByteInput, options: OnnxLoadOptions = {}): Promise<OnnxModel> {
    const name = options.name ?? 'ONNX model';
    const bytes = await readAllBytes(input, name);
    return new OnnxModel(decodeModel(bytes, name), byteSize(input, name), options);
  }

  /**
   * Decodes a model from a byte-range source without reading its main graph's tensor data of at least
   * `minDeferredBytes` (default 64 KiB): that stays in the file until a weight is read (then straight into the
   * caller's array by {@link readFloat32View} with a scratch array), and {@link encodeParts} passes it on as
   * deferred parts that `writeParts` copies from the file (io/onnx/deferred-raw-data.ts). Keep the source
   * open until the output is written. Throws `NotDeferrable` for a file this reader does not take (damaged,
   * or with repeated graph or raw_data fields): load such a file with {@link load}, which says what is wrong.
   *
   * @example
   * ```ts
   * const source = await nodeFileSource('model.onnx');
   * const model = await OnnxModel.loadDeferred(source, { name: 'model.onnx' });
   * ```
   */
  static async loadDeferred(source: ByteSource, options: OnnxLoadOptions & { minDeferredBytes?: number } = {}): Promise<OnnxModel> {
    const name = options.name ?? 'ONNX model';
    const proto = await decodeDeferred(source, name, options.minDeferredBytes ?? 65536);
    const { minDeferredBytes: _, ...rest } = options;
    return new OnnxModel(proto, source.size, rest);
  }

  /**
   * Decodes a model held in memory.
   *
   * @example
   * ```ts
   * const model = OnnxModel.decode(new Uint8Array(await (await fetch(url)).arrayBuffer()));
   * ```
   */
  static decode(bytes: Uint8Array, options: OnnxLoadOptions = {}): OnnxModel {
    const name = options.name ?? 'ONNX model';
    if (!(bytes instanceof Uint8Array)) throw new FormatError(`${name}: expected a Uint8Array of ONNX protobuf bytes`);
    return new OnnxModel(decodeModel(bytes, name), bytes.byteLength, options);
  }

  /** The IR version the file declares. */
  get irVersion(): number { return toSafeInt(this.proto.irVersion as ProtoInt, `${this.name}: ir_version`); }

  /** The opset imports, as declared. */
  opsetImports(): OpsetImport[] {
    return this.proto.opsetImport.map((o, i) => ({
      domain: o.domain ?? '', version: toSafeInt(o.version as ProtoInt, `${this.name}: opset_import[${i}].version`),
    }));
  }

  /** The version of the default ONNX domain ('' or 'ai.onnx'), or undefined when the model imports none. */
  defaultOpset(): number | undefined {
    return this.opsetImports().find((o) => isDefaultDomain(o.domain))?.version;
  }

  /** Every weight, main graph first, then subgraphs in order. */
  list(): OnnxWeightInfo[] { return [...this.#entries.values()].map((e) => e.info); }

  /**
   * The description of weight `name` (as {@link list} names it). Throws InvalidArgumentError for an unknown name.
   *
   * @example
   * ```ts
   * model.info('model.decoder.decoder.1.weight').shape; // [1, 64, 1]
   * ```
   */
  info(name: string): OnnxWeightInfo { return this.entry(name).info; }

  /** @internal The index entry of weight `name`. */
  entry(name: string): WeightEntry {
    const entry = typeof name === 'string' ? this.#entries.get(name) : undefined;
    if (!entry) {
      throw new InvalidArgumentError('name', name, `${this.name} has no weight named ${JSON.stringify(name)}; list() gives the names`);
    }
    return entry;
  }

  /**
   * The raw little-endian bytes of weight `name` (a view of the file for raw_data; converted typed fields;
   * the range of an external file). Throws FormatError when external data is missing or too short.
   *
   * @example
   * ```ts
   * (await model.read('model.first_layer.0.dw_conv.0.weight')).byteLength; // 5160
   * ```
   */
  async read(name: string): Promise<Uint8Array> {
    return this.#read(name, this.#resolve);
  }

  async #read(name: string, resolve: ExternalDataResolver | undefined): Promise<Uint8Array> {
    const { indexed, layout } = this.entry(name);
    // A tensor still in the file (loadDeferred) is read from it each time, not kept: a reader that goes
    // through every weight holds one at a time, not the whole model.
    if (layout.storage === 'raw' && deferredRange(indexed.tensor.rawData)) return materialized(indexed.tensor.rawData);
    return tensorBytes(indexed.tensor, layout, this.#describe(name), resolve);
  }

  /**
   * The model's resolver for one read of an external tensor, called at most once (its answer, or its failure, given
   * again): a resolver that fetches or opens a file is not asked twice for one weight.
   */
  #resolverOnce(layout: TensorLayout): ExternalDataResolver | undefined {
    const resolve = this.#resolve;
    if (layout.storage !== 'external' || !resolve) return resolve;
    let answer: Promise<Awaited<ReturnType<ExternalDataResolver>>> | undefined;
    return (location) => (answer ??= (async () => resolve(location))());
  }

  /**
   * Reads weight `name`'s raw bytes (as {@link read} gives them) into the start of `buffer` (at least that
   * many bytes) and returns that part: a tensor still in the file is read straight into it, so one buffer can
   * serve every weight.
   *
   * @example
   * ```ts
   * const buffer = new Uint8Array(largestWeightBytes);
   * const bytes = await model.readInto('fc1.weight', buffer); // buffer.subarray(0, fc1's bytes)
   * ```
   */
  async readInto(name: string, buffer: Uint8Array): Promise<Uint8Array> {
    const { indexed, layout } = this.entry(name);
    const raw = indexed.tensor.rawData;
    // Still in the model's file, or in an external data file that reads in place: read straight into the buffer.
    const resolve = this.#resolverOnce(layout);
    const external = await this.#externalSourceOf(layout, resolve);
    const length = layout.storage === 'raw' && deferredRange(raw) ? raw.byteLength : external?.readInto ? layout.byteLength! : undefined;
    const bytes = length === undefined ? await this.#read(name, resolve) : undefined;
    const size = length ?? bytes!.byteLength;
    if (!(buffer instanceof Uint8Array) || buffer.byteLength < size) {
      throw new InvalidArgumentError('buffer', buffer, `readInto(${JSON.stringify(name)}) needs a Uint8Array of at least ${size} bytes`);
    }
    const target = buffer.subarray(0, size);
    if (bytes) target.set(bytes);
    else if (layout.storage === 'external') await readExactlyInto(external!, layout.external!.offset, target, this.#externalWhat(name, layout));
    else await readDeferredInto(raw, target);
    return target;
  }

  /**
   * Weight `name` converted to float32 (float32, float16, bfloat16 or float64 weights only).
   *
   * @example
   * ```ts
   * const w = await model.readFloat32('model.first_layer.0.dw_conv.0.weight'); // Float32Array(1290)
   * ```
   */
  async readFloat32(name: string): Promise<Float32Array> {
    const { info } = this.entry(name);
    return toFloat32(await this.read(name), info.dtype, this.#describe(name));
  }

  /**
   * Weight `name` as float32 like {@link readFloat32}, but without a copy where the file holds aligned
   * float32 raw data: then the array shares memory with the model's bytes, so treat it as read-only.
   * Conversions go into `scratch(count)` when given (an array the caller reuses), else a new array.
   *
   * @example
   * ```ts
   * const w = await model.readFloat32View('fc1.weight'); // a view of the file's bytes (do not modify)
   * ```
   */
  async readFloat32View(name: string, scratch?: (count: number) => Float32Array): Promise<Float32Array> {
    const { info, indexed, layout } = this.entry(name);
    const raw = indexed.tensor.rawData;
    if (scratch && layout.storage === 'raw' && info.dtype === 'float32' && deferredRange(raw) && raw.byteLength % 4 === 0) {
      // Still in the file: read straight into the caller's array.
      const out = scratch(raw.byteLength / 4);
      await readDeferredInto(raw, new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
      return out;
    }
    const resolve = this.#resolverOnce(layout);
    const source = scratch && info.dtype === 'float32' && layout.byteLength !== undefined && layout.byteLength % 4 === 0
      ? await this.#externalSourceOf(layout, resolve) : undefined;
    if (source?.readInto) {
      // In an external data file that reads in place (a file on disk): straight into the caller's array too.
      const out = scratch!(layout.byteLength! / 4);
      await readExactlyInto(source, layout.external!.offset, new Uint8Array(out.buffer, out.byteOffset, out.byteLength), this.#externalWhat(name, layout));
      return out;
    }
    return float32View(await this.#read(name, resolve), info.dtype, this.#describe(name), scratch);
  }

  /**
   * Where weight `name`'s float32 data lies in a file on disk, when it is float32 raw data still in a file
   * opened with nodeFileSource ({@link loadDeferred}) or in an external data file the resolver opened that way:
   * a worker thread can then read it straight into its own memory. Undefined otherwise (in memory, another
   * element type, or a source of the caller's own).
   *
   * @example
   * ```ts
   * const model = await OnnxModel.loadDeferred(await nodeFileSource('model.onnx'));
   * await model.float32FileRange('fc1.weight'); // { path: 'model.onnx', offset: 1234, byteLength: 16777216 }
   * ```
   */
  async float32FileRange(name: string): Promise<FileRange | undefined> {
    return this.entry(name).info.dtype === 'float32' ? this.#fileRange(name, 4) : undefined;
  }

  /**
   * Where weight `name`'s stored bytes lie in a file on disk, whatever their element type (a float16 weight's, say),
   * as {@link float32FileRange} says for float32 ones; undefined where they are not in such a file.
   *
   * @example
   * ```ts
   * await model.tensorFileRange('fc1.weight'); // a float16 weight: { path: 'model.onnx', offset, byteLength }
   * ```
   */
  async tensorFileRange(name: string): Promise<FileRange | undefined> {
    return this.#fileRange(name, 1);
  }

  /** The file range of a raw or external tensor's bytes, a whole number of `unit`-byte elements; else undefined. */
  async #fileRange(name: string, unit: number): Promise<FileRange | undefined> {
    const { indexed, layout } = this.entry(name);
    if (layout.storage === 'raw') {
      const raw = indexed.tensor.rawData;
      const range = deferredRange(raw);
      return range && raw.byteLength % unit === 0 ? fileRangeOf(range.source, range.offset, raw.byteLength) : undefined;
    }
    const source = layout.byteLength !== undefined && layout.byteLength % unit === 0 ? await this.#externalSourceOf(layout, this.#resolve) : undefined;
    return source ? fileRangeOf(source, layout.external!.offset, layout.byteLength!) : undefined;
  }

  /**
   * The byte source of a tensor's external data file, where the resolver gives one (not bytes or a Blob) that holds
   * the tensor's range; undefined otherwise (reading it the ordinary way says what is wrong).
   */
  async #externalSourceOf(layout: TensorLayout, resolve: ExternalDataResolver | undefined): Promise<ByteSource | undefined> {
    if (layout.storage !== 'external' || !resolve || layout.byteLength === undefined) return undefined;
    let source: unknown;
    try {
      source = await resolve(layout.external!.location);
    } catch {
      return undefined;
    }
    // Not one whose range runs past its end either: read the ordinary way, that says so.
    return source !== null && typeof source === 'object' && typeof (source as ByteSource).read === 'function'
      && layout.external!.offset + layout.byteLength <= (source as ByteSource).size ? source as ByteSource : undefined;
  }

  /** Reads every tensor still in the file (see {@link loadDeferred}), and produces those produced when written, into memory. */
  async materialize(): Promise<void> {
    for (const tensor of this.proto.graph?.initializer ?? []) {
      if (tensor.rawData instanceof Uint8Array) tensor.rawData = await materialized(tensor.rawData);
    }
  }

  /** Encodes the (possibly modified) model; a model from {@link loadDeferred} is read whole first by {@link materialize}. */
  encode(): Uint8Array {
    if ((this.proto.graph?.initializer ?? []).some((t) => t.rawData instanceof Uint8Array && isPlaceholder(t.rawData))) {
      throw new FormatError(`${this.name}: tensors are still in the file or produced when written; await model.materialize() before encode(), or write encodeParts() with writeParts`);
    }
    return encodeModel(this.proto);
  }

  /** Encodes the model as parts whose concatenation is {@link encode}'s bytes, tensor data passed through uncopied (`encodeModelParts`). */
  encodeParts(): Uint8Array[] { return encodeModelParts(this.proto, undefined, isOwnPart); }

  /** What a read of weight `name` from its external data file is called in errors (as {@link read} calls it). */
  #externalWhat(name: string, layout: TensorLayout): string {
    return `${this.#describe(name)}: external data ${JSON.stringify(layout.external!.location)}`;
  }

  #describe(name: string): string {
    const info = this.#entries.get(name)?.info;
    if (!info) return `${this.name}: weight ${JSON.stringify(name)}`;
    const where = info.source === 'constant' ? `Constant node ${info.nodeName}` : 'initializer';
    return `${this.name}: ${where} ${JSON.stringify(info.tensorName)} in ${info.graph}`;
  }

  #check(): void {
    const { proto, name } = this;
    if (!proto.graph) throw new FormatError(`${name}: the model has no graph; it is damaged or not an ONNX model`);
    this.irVersion;
    const opsets = this.opsetImports();
    for (const { domain, version } of opsets) {
      if (version < 1) throw new FormatError(`${name}: opset_import of domain ${JSON.stringify(domain)} has version ${version}`);
    }
    // The graph index names graphs, not the file: say which file the damage is in.
    const inFile = <T>(index: () => T): T => {
      try {
        return index();
      } catch (error) {
        if (error instanceof FormatError && !error.message.startsWith(`${name}: `)) throw new FormatError(`${name}: ${error.message}`, { cause: error });
        throw error;
      }
    };
    const graphs = inFile(() => listGraphs(proto.graph as GraphProto));
    if (!opsets.some((o) => isDefaultDomain(o.domain))
      && graphs.some((g) => nodesOf(g.graph).some((n) => isDefaultDomain(n.domain)))) {
      throw new FormatError(`${name}: nodes use the default ONNX domain but opset_import declares no version for it`);
    }
    const indexed = inFile(() => indexWeights(proto.graph as GraphProto));
    const counts = new Map<string, number>();
    for (const w of indexed) counts.set(w.tensorName, (counts.get(w.tensorName) ?? 0) + 1);
    for (const w of indexed) {
      const key = counts.get(w.tensorName) === 1 ? w.tensorName : `${w.tensorName}@${w.graph.path}`;
      const where = w.source === 'constant' ? `Constant node ${w.node!.name || w.tensorName}` : 'initializer';
      const layout = describeTensor(w.tensor, `${name}: ${where} ${JSON.stringify(w.tensorName)} in ${w.graph.path}`);
      const info: OnnxWeightInfo = {
        name: key, dtype: layout.info.dtype, shape: layout.shape, byteLength: layout.byteLength ?? w.tensor.rawData.byteLength,
        tensorName: w.tensorName, graph: w.graph.path, source: w.source, onnxDataType: layout.info.onnxName,
        consumers: w.consumers, graphInput: w.graphInput,
        ...(w.node ? { nodeName: w.node.name } : {}), ...(layout.external ? { external: layout.external } : {}),
      };
      this.#entries.set(key, { info, indexed: w, layout });
    }
  }
}
