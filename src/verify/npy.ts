/**
 * Reads one array from NumPy's `.npy` format (versions 1 to 3): little-endian or byte-sized numeric and
 * bool arrays in C order, the dtypes verification feeds. A small header parser rather than a dependency:
 * the npm readers (npyjs and others) fetch from URLs, and none checks the data length against the shape.
 *
 * @example
 * ```ts
 * const x = parseNpy(readFileSync('x.npy'), 'x.npy'); // { dtype: 'float32', dims: [1, 3, 48, 320], data: Float32Array }
 * ```
 * @module
 */
import { FormatError } from '../errors.js';
import { SAMPLE_ARRAYS, type SampleDType, type SampleTensor } from './runtime.js';

const kDescr: Readonly<Record<string, SampleDType>> = {
  f4: 'float32', f8: 'float64', f2: 'float16', i1: 'int8', u1: 'uint8', i2: 'int16', u2: 'uint16',
  i4: 'int32', u4: 'uint32', i8: 'int64', u8: 'uint64', b1: 'bool',
};

/**
 * Decodes `bytes` as one `.npy` array; a malformed file, a big-endian or Fortran-order array, or a dtype
 * onnxruntime cannot take gives a {@link FormatError} naming `name`.
 *
 * @example
 * ```ts
 * parseNpy(bytes, 'sr.npy'); // { dtype: 'int64', dims: [], data: BigInt64Array [16000n] }
 * ```
 */
export function parseNpy(bytes: Uint8Array, name: string): SampleTensor {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
  if (bytes.length < 10 || magic.some((b, i) => bytes[i] !== b)) throw new FormatError(`${name}: not an .npy file (no \\x93NUMPY magic)`);
  const major = bytes[6]!;
  if (major < 1 || major > 3) throw new FormatError(`${name}: .npy version ${major} is not supported (1 to 3 are)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lengthBytes = major === 1 ? 2 : 4;
  if (bytes.length < 8 + lengthBytes) throw new FormatError(`${name}: truncated .npy header`);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const dataOffset = 8 + lengthBytes + headerLength;
  if (dataOffset > bytes.length) throw new FormatError(`${name}: the .npy header (${headerLength} bytes) runs past the end of the file`);
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(8 + lengthBytes, dataOffset));
  const descr = /'descr'\s*:\s*'([<>|=])([a-z]\d+)'/.exec(header);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header);
  const shape = /'shape'\s*:\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shape) throw new FormatError(`${name}: the .npy header has no descr, fortran_order or shape: ${header.trim()}`);
  const dtype = kDescr[descr[2]!];
  if (!dtype) throw new FormatError(`${name}: .npy dtype '${descr[1]}${descr[2]}' cannot be fed to a model; save float32, float16, float64, an integer type or bool`);
  const elementBytes = SAMPLE_ARRAYS[dtype].BYTES_PER_ELEMENT;
  if (descr[1] === '>' && elementBytes > 1) throw new FormatError(`${name}: big-endian .npy data; save it little-endian (arr.astype(arr.dtype.newbyteorder('<')))`);
  if (fortran[1] === 'True') throw new FormatError(`${name}: Fortran-order .npy data; save it in C order (np.ascontiguousarray)`);
  const dims = shape[1]!.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0)) throw new FormatError(`${name}: .npy shape (${shape[1]}) is not a list of sizes`);
  const count = dims.reduce((a, b) => a * b, 1);
  const byteLength = count * elementBytes;
  if (bytes.length - dataOffset !== byteLength) {
    throw new FormatError(`${name}: shape [${dims.join(', ')}] of ${dtype} needs ${byteLength} data bytes, the file has ${bytes.length - dataOffset}`);
  }
  const data = new SAMPLE_ARRAYS[dtype](count);
  new Uint8Array(data.buffer).set(bytes.subarray(dataOffset));
  return { dtype, dims, data };
}
