/**
 * `PerGroupMinMaxObserver`: running min and max per group of `groupSize` consecutive elements along `axis`
 * (ONNX QuantizeLinear `block_size` layout: the parameters have the input's shape with the axis dimension n
 * replaced by ceil(n / groupSize), the last group possibly short), with the observer formulas of
 * MinMaxObserver per group. Typical use: int4 weights in groups of 32-128 along the input features.
 * Every batch must have the same shape.
 *
 * @example
 * ```ts
 * const observer = new PerGroupMinMaxObserver({ axis: 1, groupSize: 32, dtype: 'qint4', qscheme: 'per_group_symmetric' });
 * await observer.observe(w); // w: [out, in]
 * const p = observer.calculateQParams();
 * const q = await quantizePerGroup(w, p.scales, p.zeroPoints, p.axis, p.groupSize, 'qint4');
 * ```
 * @module
 */
import { type ReductionLayout, reductionLayout } from '../calibration/granularity.js';
import { InvalidArgumentError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { type BaseObserverOptions, PER_GROUP_QSCHEMES, resolveObserverOptions, splitOption } from './observer-options.js';
import { RangeObserver } from './range-observer.js';

/** A per-group scheme. */
export type PerGroupQScheme = (typeof PER_GROUP_QSCHEMES)[number];

/** Options of {@link PerGroupMinMaxObserver}. */
export interface PerGroupMinMaxObserverOptions extends BaseObserverOptions {
  /** The axis the groups run along (negative counts from the end). */
  axis: number;
  /** Elements per group along the axis (>= 1; the last group may be shorter). */
  groupSize: number;
  /** 'per_group_affine' (default) or 'per_group_symmetric'. */
  qscheme?: PerGroupQScheme;
}

/**
 * See the module documentation.
 *
 * @example
 * ```ts
 * const observer = new PerGroupMinMaxObserver({ axis: 1, groupSize: 4 });
 * await observer.observe(tensor([1, 5, -2, 7, 0, 3], [1, 6]));
 * observer.minVals; // Float32Array [-2, 0] (the second group is short)
 * ```
 */
export class PerGroupMinMaxObserver extends RangeObserver<PerGroupQScheme> {
  readonly axis: number;
  readonly groupSize: number;
  #shape: readonly number[] | undefined;

  constructor(options: PerGroupMinMaxObserverOptions) {
    const [axis, withoutAxis] = splitOption(options, 'axis');
    const [groupSize, rest] = splitOption(withoutAxis, 'groupSize');
    super(resolveObserverOptions(rest, PER_GROUP_QSCHEMES, []));
    for (const [name, value, lowest] of [['axis', axis, -Infinity], ['groupSize', groupSize, 1]] as const) {
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < lowest) {
        throw new InvalidArgumentError(`options.${name}`, value,
          `options.${name} is ${String(value)}; use ${name === 'axis' ? 'an integer axis, e.g. 1' : 'a positive integer, e.g. 32'}`);
      }
    }
    this.axis = axis as number;
    this.groupSize = groupSize as number;
  }

  /** The running minimum of each group (a copy, parameter order), empty before the first batch. */
  get minVals(): Float32Array { return this.runningMins?.slice() ?? new Float32Array(0); }

  /** The running maximum of each group (a copy, parameter order), empty before the first batch. */
  get maxVals(): Float32Array { return this.runningMaxs?.slice() ?? new Float32Array(0); }

  /** One scale and zero point per group, as `quantizePerGroup` takes them. */
  calculateQParams(): { scales: Float32Array; zeroPoints: Int32Array; axis: number; groupSize: number } {
    const { scales, zeroPoints, layout } = this.outputParams('minVals');
    return { scales, zeroPoints, axis: layout.axis!, groupSize: this.groupSize };
  }

  override reset(): void {
    super.reset();
    this.#shape = undefined;
  }

  protected layoutFor(x: Tensor): ReductionLayout {
    const layout = reductionLayout(x.shape, { axis: this.axis, groupSize: this.groupSize }, 'options');
    if (this.runningMins && this.#shape && (this.#shape.length !== x.shape.length || this.#shape.some((d, i) => d !== x.shape[i]))) {
      throw new InvalidArgumentError('x.shape', x.shape,
        `x.shape [${x.shape.join(', ')}] differs from the earlier batches' [${this.#shape.join(', ')}]; a per-group observer `
        + 'needs the same shape every batch (or reset())');
    }
    this.#shape = [...x.shape];
    return layout;
  }

  protected describeOutputs(layout: ReductionLayout): string {
    return `${layout.outputs} groups`;
  }
}
