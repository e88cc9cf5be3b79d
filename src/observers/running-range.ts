/**
 * The running min/max state of an observer, one entry per output: plain running extremes
 * (MinMaxObserver: `min = min(min, batchMin)`, with -0 < +0) or an exponential moving average
 * (MovingAverage*: the first batch sets the range, later ones `m = fround(m + fround(c * fround(batch - m)))`
 * with c = fround(averagingConstant), every step in float32, as PyTorch computes it, checked on its fixtures).
 *
 * @example
 * ```ts
 * const running = new RunningRange(0.5);
 * running.update(Float32Array.of(-2), Float32Array.of(2));
 * running.update(Float32Array.of(-4), Float32Array.of(0));
 * running.mins; // Float32Array [-3]
 * ```
 * @module
 */
import { lessThan } from '../reference/minmax.js';

/**
 * See the module documentation.
 *
 * @example
 * ```ts
 * const running = new RunningRange();        // running extremes
 * running.update(Float32Array.of(-1), Float32Array.of(1));
 * running.update(Float32Array.of(-3), Float32Array.of(0));
 * [running.mins, running.maxs];              // [Float32Array [-3], Float32Array [1]]
 * ```
 */
export class RunningRange {
  /** undefined for running extremes, else the moving-average weight of each new batch. */
  readonly averagingConstant: number | undefined;
  #mins: Float32Array | undefined;
  #maxs: Float32Array | undefined;

  constructor(averagingConstant?: number) { this.averagingConstant = averagingConstant; }

  /** The state, or undefined before the first batch. Shared, not copied. */
  get mins(): Float32Array | undefined { return this.#mins; }
  get maxs(): Float32Array | undefined { return this.#maxs; }

  /** Folds one batch's per-output extremes into the state (arrays of the state's length). */
  update(batchMins: Float32Array, batchMaxs: Float32Array): void {
    if (!this.#mins || !this.#maxs) {
      this.#mins = batchMins.slice();
      this.#maxs = batchMaxs.slice();
      return;
    }
    const mins = this.#mins;
    const maxs = this.#maxs;
    if (this.averagingConstant === undefined) {
      for (let i = 0; i < mins.length; i++) {
        if (lessThan(batchMins[i]!, mins[i]!)) mins[i] = batchMins[i]!;
        if (lessThan(maxs[i]!, batchMaxs[i]!)) maxs[i] = batchMaxs[i]!;
      }
      return;
    }
    const c = Math.fround(this.averagingConstant);
    for (let i = 0; i < mins.length; i++) {
      mins[i] = Math.fround(mins[i]! + Math.fround(c * Math.fround(batchMins[i]! - mins[i]!)));
      maxs[i] = Math.fround(maxs[i]! + Math.fround(c * Math.fround(batchMaxs[i]! - maxs[i]!)));
    }
  }

  /** Forgets every batch. */
  reset(): void {
    this.#mins = undefined;
    this.#maxs = undefined;
  }
}
