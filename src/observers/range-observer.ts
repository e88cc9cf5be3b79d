/**
 * What every observer shares: validated options, the running range, `observe` (a GPU or CPU min/max
 * reduction of the batch, then the running update) and the observer formulas for the parameters. The
 * concrete classes only say how a batch is reduced (per tensor, per channel, per group) and how the
 * parameters are shaped.
 *
 * @example
 * ```ts
 * // Not used directly: see MinMaxObserver, PerChannelMinMaxObserver, PerGroupMinMaxObserver.
 * ```
 * @module
 */
import type { OpOptions } from '../ops/backend.js';
import { checkRange } from '../calibration/checks.js';
import type { ReductionLayout } from '../calibration/granularity.js';
import { reduceMinMax } from '../ops/min-max.js';
import type { QDType } from '../dtype.js';
import { InvalidArgumentError } from '../errors.js';
import { qparamsFromMinMax } from '../calibration/qparams.js';
import { type Tensor, checkTensor } from '../tensor.js';
import type { ResolvedObserverOptions } from './observer-options.js';
import { RunningRange } from './running-range.js';

/**
 * See the module documentation.
 *
 * @example
 * ```ts
 * class MyObserver extends RangeObserver<'per_tensor_affine'> { ... } // layoutFor + describeOutputs
 * ```
 */
export abstract class RangeObserver<S extends string> {
  /** The dtype the parameters are for. */
  readonly dtype: QDType;
  /** The scheme (affine or symmetric, and the granularity). */
  readonly qscheme: S;
  readonly reduceRange: boolean;
  /** The resolved integer range (after reduceRange and any custom range). */
  readonly quantMin: number;
  readonly quantMax: number;
  readonly #options: ResolvedObserverOptions<S>;
  #running: RunningRange;
  #layout: ReductionLayout | undefined;

  protected constructor(options: ResolvedObserverOptions<S>) {
    this.#options = options;
    this.dtype = options.dtype;
    this.qscheme = options.qscheme;
    this.reduceRange = options.reduceRange;
    this.quantMin = options.range.qmin;
    this.quantMax = options.range.qmax;
    this.#running = new RunningRange();
  }

  /** Makes the running range a moving average with weight `averagingConstant` (subclass constructors only). */
  protected useMovingAverage(averagingConstant: number): void {
    this.#running = new RunningRange(averagingConstant);
  }

  /** The reduction view of a batch; throws for a batch this observer cannot take (axis out of range, ...). */
  protected abstract layoutFor(x: Tensor): ReductionLayout;

  /** Describes the outputs of a layout for the "changed between batches" error, e.g. '5 channels along axis 0'. */
  protected abstract describeOutputs(layout: ReductionLayout): string;

  /**
   * Records the min and max of `x` (PyTorch's `forward`): on the GPU when `options` select it, else on the
   * CPU, with the same result. Returns `x`. An empty `x` changes nothing; NaN in `x` is an
   * InvalidArgumentError naming its first index, and leaves the observer unchanged.
   */
  async observe(x: Tensor, options?: OpOptions): Promise<Tensor> {
    checkTensor(x, 'x');
    const layout = this.layoutFor(x);
    if (x.data.length === 0) return x;
    this.#checkSameOutputs(layout, x);
    const { mins, maxs } = await reduceMinMax(x, layout, options, 'x');
    this.#checkSameOutputs(layout, x); // again: another observe may have finished while this one ran
    this.#running.update(mins, maxs);
    this.#layout = layout;
    return x;
  }

  /** Forgets every observed batch. */
  reset(): void {
    this.#running.reset();
    this.#layout = undefined;
  }

  /** The running minima / maxima (shared), undefined before the first batch. */
  protected get runningMins(): Float32Array | undefined { return this.#running.mins; }
  protected get runningMaxs(): Float32Array | undefined { return this.#running.maxs; }
  /** The layout of the last observed batch. */
  protected get lastLayout(): ReductionLayout | undefined { return this.#layout; }

  /** Scales and zero points of every output by PyTorch's formulas; `stateName` names the state in errors. */
  protected outputParams(stateName: string): { scales: Float32Array; zeroPoints: Int32Array; layout: ReductionLayout } {
    const mins = this.#running.mins;
    const maxs = this.#running.maxs;
    const layout = this.#layout;
    if (!mins || !maxs || !layout) {
      throw new InvalidArgumentError(stateName, undefined,
        `calculateQParams() was called before any observe(x): ${stateName} holds nothing yet; observe data first `
        + '(PyTorch returns scale 1, zero point 0 here, with a warning)');
    }
    const scales = new Float32Array(mins.length);
    const zeroPoints = new Int32Array(mins.length);
    for (let w = 0; w < mins.length; w++) {
      const { scale, zeroPoint } = qparamsFromMinMax(mins[w]!, maxs[w]!, this.#options.range, this.#options.symmetric);
      checkRange(mins[w]!, maxs[w]!, scale, layout, w, 'x');
      scales[w] = scale;
      zeroPoints[w] = zeroPoint;
    }
    return { scales, zeroPoints, layout };
  }

  #checkSameOutputs(layout: ReductionLayout, x: Tensor): void {
    const previous = this.#running.mins;
    if (previous && previous.length !== layout.outputs) {
      throw new InvalidArgumentError('x.shape', x.shape,
        `x.shape [${x.shape.join(', ')}] gives ${this.describeOutputs(layout)} but earlier batches had ${previous.length}; `
        + 'observe batches with the same layout, or reset() the observer');
    }
  }
}
