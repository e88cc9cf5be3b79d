/**
 * Two 4-bit integers per byte, element 0 in the low nibble (the order of ONNX int4/uint4 and of PyTorch's
 * quint4x2). An odd length is padded with a zero nibble.
 *
 * @example
 * ```ts
 * packNibbles(Int8Array.of(1, -2, 7));   // Uint8Array [0xe1, 0x07]
 * unpackNibbles(Uint8Array.of(0xe1, 0x07), 3, true); // Int8Array [1, -2, 7]
 * ```
 * @module
 */

/** Packs one 4-bit value per element (already in range) into bytes, low nibble first. */
export function packNibbles(values: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(Math.ceil(values.length / 2));
  for (let i = 0; i < values.length; i++) out[i >> 1]! |= (values[i]! & 0xf) << ((i & 1) * 4);
  return out;
}

/** Unpacks `count` 4-bit values; `signed` sign-extends them (qint4) into an Int8Array, else a Uint8Array. */
export function unpackNibbles(bytes: Uint8Array, count: number, signed: boolean): Int8Array | Uint8Array {
  const out = signed ? new Int8Array(count) : new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const nibble = (bytes[i >> 1]! >> ((i & 1) * 4)) & 0xf;
    out[i] = signed && nibble > 7 ? nibble - 16 : nibble;
  }
  return out;
}
