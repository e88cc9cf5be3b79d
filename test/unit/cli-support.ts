// Helpers for the command-line tests: run main() in-process with captured streams (text and binary), and
// small models made on the spot (an ONNX MatMul + Add, optionally with external data; a safetensors file).
import { writeFileSync } from 'node:fs';
import onnxProto from 'onnx-proto';
import { main } from '../../src/cli/main.js';
import { floatToHalfBits } from '../../src/io/half.js';
import { RUN_SEED, normalData, rng } from './support.js';

const { onnx } = onnxProto;

/** What one run wrote, and its exit code. */
export interface CliRun { code: number; stdout: string; stderr: string; stdoutBytes: Uint8Array; /** The largest single write to stdout, in bytes. */ stdoutLargestWrite: number }

/** A stream that collects what is written (strings or bytes), calling write callbacks like Node does. */
function collector(isTTY = false): { stream: NodeJS.WriteStream; chunks: Uint8Array[] } {
  const chunks: Uint8Array[] = [];
  const stream = {
    isTTY,
    write(data: string | Uint8Array, callback?: (error?: Error | null) => void) {
      chunks.push(typeof data === 'string' ? new TextEncoder().encode(data) : data.slice());
      if (typeof callback === 'function') queueMicrotask(() => callback(null));
      return true;
    },
  } as unknown as NodeJS.WriteStream;
  return { stream, chunks };
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) { out.set(c, at); at += c.byteLength; }
  return out;
}

/** Runs the CLI in-process; `bundledModel` replaces the lookup of the bundled sample model. */
export async function runCli(argv: string[], options: { bundledModel?: () => string | undefined; stdoutIsTTY?: boolean } = {}): Promise<CliRun> {
  const out = collector(options.stdoutIsTTY);
  const err = collector();
  const code = await main(argv, { stdout: out.stream, stderr: err.stream, ...(options.bundledModel ? { bundledModel: options.bundledModel } : {}) });
  const stdoutBytes = concat(out.chunks);
  return {
    code, stdout: new TextDecoder().decode(stdoutBytes), stderr: new TextDecoder().decode(concat(err.chunks)), stdoutBytes,
    stdoutLargestWrite: out.chunks.reduce((largest, c) => Math.max(largest, c.byteLength), 0),
  };
}

/** A float32 tensor stored inline or in an external file (`location`, at `offset`). */
export interface TinyTensor { name: string; dims: number[]; data: Float32Array; external?: { location: string; offset: number } }

/** Bytes of a model computing `y = x @ w + b` from the tensors `w` and `b` (names as given). */
export function tinyOnnx(tensors: TinyTensor[]): Uint8Array {
  const initializer = tensors.map((t) => {
    const raw = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    return t.external
      ? { name: t.name, dataType: 1, dims: t.dims, dataLocation: 1, externalData: [
        { key: 'location', value: t.external.location }, { key: 'offset', value: String(t.external.offset) },
        { key: 'length', value: String(raw.byteLength) }] }
      : { name: t.name, dataType: 1, dims: t.dims, rawData: raw };
  });
  const [w, b] = tensors;
  const k = w!.dims[0]!;
  const n = w!.dims[1]!;
  return onnx.ModelProto.encode({
    irVersion: 8, opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'tiny', initializer,
      input: [{ name: 'x', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }, { dimValue: k }] } } } }],
      output: [{ name: 'y', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }, { dimValue: n }] } } } }],
      node: [
        { opType: 'MatMul', name: 'mm', input: ['x', w!.name], output: ['xw'] },
        { opType: 'Add', name: 'add', input: ['xw', b!.name], output: ['y'] },
      ],
    },
  }).finish();
}

/** A weight [k, n] and bias [n] of fresh random values. */
export function tinyWeights(k = 64, n = 64): { w: Float32Array; b: Float32Array } {
  const next = rng(RUN_SEED + k * 7919 + n);
  return { w: normalData(k * n, next), b: normalData(n, next) };
}

/** Writes a safetensors file of float32 tensors. */
export function writeSafetensors(path: string, tensors: { name: string; shape: number[]; data: Float32Array; dtype?: 'F32' | 'F16' | 'BF16' }[]): void {
  const header: Record<string, unknown> = {};
  let offset = 0;
  const stored = tensors.map((t) => storedBytes(t.data, t.dtype ?? 'F32'));
  tensors.forEach((t, i) => {
    header[t.name] = { dtype: t.dtype ?? 'F32', shape: t.shape, data_offsets: [offset, offset + stored[i]!.byteLength] };
    offset += stored[i]!.byteLength;
  });
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const head = new Uint8Array(8);
  new DataView(head.buffer).setBigUint64(0, BigInt(json.length), true);
  writeFileSync(path, concat([head, new TextEncoder().encode(json), ...stored]));
}

/** `data` as a safetensors file stores it: float32 bytes, float16 rounded to nearest even, bfloat16 cut to its top 16 bits. */
export function storedBytes(data: Float32Array, dtype: 'F32' | 'F16' | 'BF16'): Uint8Array {
  if (dtype === 'F32') return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
  return new Uint8Array(Uint16Array.from(data, (v, i) => (dtype === 'F16' ? floatToHalfBits(v) : bits[i]! >>> 16)).buffer);
}
