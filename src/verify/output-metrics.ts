/**
 * How far one output of a compressed model is from the original's, over every sample together (the
 * samples' values concatenated): the largest absolute difference, the relative error ‖Δ‖₂ / ‖original‖₂,
 * the cosine similarity, and, where the last axis has more than one entry (class scores, token logits,
 * CTC frames), how often the index of the largest value along it agrees. A value that is finite in one
 * model and not in the other (NaN, ±Infinity) is counted apart and fails verification on its own.
 *
 * @example
 * ```ts
 * const acc = new OutputAccumulator('logits');
 * acc.add(Float32Array.of(1, 2, 3), Float32Array.of(1, 2.1, 2.9), [1, 3]);
 * acc.result(); // { name: 'logits', maxAbsDiff: 0.1.., relativeError: 0.037.., cosine: 0.999.., argmaxAgreement: 1, ... }
 * ```
 * @module
 */

/** One output compared. */
export interface OutputComparison {
  name: string;
  /** The original's dims of the first sample. */
  dims: number[];
  /** Values compared, over every sample. */
  elements: number;
  maxAbsDiff: number;
  /** ‖compressed − original‖₂ / ‖original‖₂ (0 when both are zero, Infinity when only the original is). */
  relativeError: number;
  /** Cosine similarity of the two outputs as vectors (1 when both are zero, 0 when exactly one is). */
  cosine: number;
  /** Fraction of last-axis rows whose argmax agrees; undefined when the last axis has one entry or none. */
  argmaxAgreement: number | undefined;
  /** Rows the argmax agreement counted. */
  argmaxRows: number;
  /** Values finite in one model and not in the other (or NaN in both is fine: counted only when they differ). */
  nonFiniteMismatches: number;
}

function toNumbers(data: unknown): ArrayLike<number> {
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return Array.from(data, Number);
  if (ArrayBuffer.isView(data)) return data as unknown as ArrayLike<number>;
  if (Array.isArray(data)) return data.map(Number);
  throw new TypeError('output data is not numeric');
}

/** Collects one output's differences sample by sample; {@link OutputAccumulator.result} gives the comparison. */
export class OutputAccumulator {
  readonly name: string;
  #dims: number[] | undefined;
  #elements = 0;
  #maxAbs = 0;
  #dot = 0;
  #normOriginal = 0;
  #normCompressed = 0;
  #normDiff = 0;
  #argmaxRows = 0;
  #argmaxAgree = 0;
  #nonFinite = 0;

  constructor(name: string) {
    this.name = name;
  }

  /**
   * Adds one sample's output of both models (the same dims; float16 outputs already as numbers).
   *
   * @example
   * ```ts
   * acc.add(original.data, compressed.data, original.dims);
   * ```
   */
  add(originalData: unknown, compressedData: unknown, dims: readonly number[]): void {
    const a = toNumbers(originalData);
    const b = toNumbers(compressedData);
    if (a.length !== b.length) throw new RangeError(`output '${this.name}': ${a.length} values in the original, ${b.length} in the compressed model`);
    this.#dims ??= [...dims];
    this.#elements += a.length;
    for (let i = 0; i < a.length; i++) {
      const x = a[i]!;
      const y = b[i]!;
      if (!Number.isFinite(x) || !Number.isFinite(y)) {
        if (!Object.is(x, y)) this.#nonFinite++;
        continue;
      }
      const d = y - x;
      this.#maxAbs = Math.max(this.#maxAbs, Math.abs(d));
      this.#dot += x * y;
      this.#normOriginal += x * x;
      this.#normCompressed += y * y;
      this.#normDiff += d * d;
    }
    const row = dims.length ? dims[dims.length - 1]! : 1;
    if (row > 1) {
      for (let start = 0; start + row <= a.length; start += row) {
        let ia = start;
        let ib = start;
        for (let i = start + 1; i < start + row; i++) {
          if (a[i]! > a[ia]!) ia = i;
          if (b[i]! > b[ib]!) ib = i;
        }
        this.#argmaxRows++;
        if (ia === ib) this.#argmaxAgree++;
      }
    }
  }

  /** The comparison so far. */
  result(): OutputComparison {
    const na = Math.sqrt(this.#normOriginal);
    const nb = Math.sqrt(this.#normCompressed);
    const nd = Math.sqrt(this.#normDiff);
    return {
      name: this.name,
      dims: this.#dims ?? [],
      elements: this.#elements,
      maxAbsDiff: this.#maxAbs,
      relativeError: na > 0 ? nd / na : nd > 0 ? Infinity : 0,
      // Equal outputs have cosine 1 exactly (dot / (√n · √n) can round just below it, which failed --min-cosine 1).
      cosine: nd === 0 && na === nb ? 1 : na > 0 && nb > 0 ? Math.min(1, this.#dot / (na * nb)) : 0,
      argmaxAgreement: this.#argmaxRows ? this.#argmaxAgree / this.#argmaxRows : undefined,
      argmaxRows: this.#argmaxRows,
      nonFiniteMismatches: this.#nonFinite,
    };
  }
}
