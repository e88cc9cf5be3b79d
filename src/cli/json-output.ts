/**
 * The command line's JSON: one object a line, with Infinity and NaN (which JSON lacks) written as strings and
 * typed arrays as arrays, and a report's tensors written in pieces so that a model of 200k weights never becomes
 * one string of tens of MB.
 *
 * @example
 * ```ts
 * JSON.stringify({ sqnrDb: Infinity }, (_k, v) => jsonNumber(v)); // '{"sqnrDb":"Infinity"}'
 * writeJsonObject(process.stdout, { tensors: [{ name: 'w', sqnrDb: 41.2 }] });
 * ```
 * @module
 */

/**
 * JSON has no Infinity or NaN: write them as strings ("Infinity" for an exact tensor's SQNR).
 *
 * @example
 * ```ts
 * jsonNumber(Infinity); // 'Infinity'
 * jsonNumber(41.2);     // 41.2
 * ```
 */
export function jsonNumber(value: unknown): unknown {
  return typeof value === 'number' && !Number.isFinite(value) ? String(value) : value;
}

/** JSON has no typed arrays, Infinity or NaN: arrays of numbers, and the strings "Infinity" / "NaN". */
function jsonValue(_key: string, value: unknown): unknown {
  return value instanceof Float64Array || value instanceof Float32Array ? Array.from(value, jsonNumber) : jsonNumber(value);
}

/** Tensors serialized per write by {@link writeJsonObject}. */
const kTensorsPerWrite = 1024;

/**
 * Writes `value` as one line of JSON, exactly as `JSON.stringify(value, jsonValue)` would, but its `tensors`
 * array in pieces: 200k tensors would otherwise make one string of tens of MB, and as much again while it is built.
 *
 * @example
 * ```ts
 * writeJsonObject(process.stdout, { output: 'model.q8.onnx', tensors: [{ name: 'w', sqnrDb: Infinity }] });
 * // {"output":"model.q8.onnx","tensors":[{"name":"w","sqnrDb":"Infinity"}]}
 * ```
 */
export function writeJsonObject(out: NodeJS.WritableStream, value: Record<string, unknown>): void {
  let first = true;
  out.write('{');
  for (const [key, raw] of Object.entries(value)) {
    const field = jsonValue(key, raw);
    if (key === 'tensors' && Array.isArray(field)) {
      out.write(`${first ? '' : ','}"tensors":[`);
      for (let i = 0; i < field.length; i += kTensorsPerWrite) {
        const text = JSON.stringify(field.slice(i, i + kTensorsPerWrite), jsonValue);
        out.write(`${i === 0 ? '' : ','}${text.slice(1, -1)}`);
      }
      out.write(']');
    } else {
      const text = JSON.stringify(field, jsonValue) as string | undefined;
      if (text === undefined) continue; // as JSON.stringify leaves out undefined fields
      out.write(`${first ? '' : ','}${JSON.stringify(key)}:${text}`);
    }
    first = false;
  }
  out.write('}\n');
}
