/**
 * `PerChannelMinMaxObserver`: PyTorch's observer of the same name. It records the running min and max of
 * each channel along `chAxis` (any axis of any rank; negative counts from the end) and computes one scale
 * and zero point per channel, with PyTorch's float32 results. The reductions run on the GPU when the
 * options select it.
 *
 * @example
 * ```ts
 * import { PerChannelMinMaxObserver, quantizePerChannel } from 'webgpu-quant';
 * const observer = new PerChannelMinMaxObserver({ chAxis: 0, dtype: 'qint8', qscheme: 'per_channel_symmetric' });
 * await observer.observe(w);
 * const { scales, zeroPoints, axis } = observer.calculateQParams();
 * const q = await quantizePerChannel(w, scales, zeroPoints, axis, 'qint8');
 * ```
 * @module
 */
import { type ReductionLayout, reductionLayout } from '../calibration/granularity.js';
import { InvalidArgumentError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { normalizeAxis } from '../validate.js';
import { type BaseObserverOptions, PER_CHANNEL_QSCHEMES, resolveObserverOptions, splitOption } from './observer-options.js';
import { RangeObserver } from './range-observer.js';

/** A per-channel scheme. */
export type PerChannelQScheme = (typeof PER_CHANNEL_QSCHEMES)[number];

/** Options of {@link PerChannelMinMaxObserver}. */
export interface PerChannelMinMaxObserverOptions extends BaseObserverOptions {
  /** The channel axis; default 0. Checked against each batch's rank when it is observed. */
  chAxis?: number;
  /** 'per_channel_affine' (default) or 'per_channel_symmetric'. */
  qscheme?: PerChannelQScheme;
}

/**
 * See the module documentation. `minVals` / `maxVals` are empty before the first batch.
 *
 * @example
 * ```ts
 * const observer = new PerChannelMinMaxObserver({ chAxis: 0, dtype: 'qint8' });
 * await observer.observe(tensor([1, -2, 3, 4, 0, -6], [2, 3]));
 * observer.minVals;            // Float32Array [-2, -6]
 * observer.calculateQParams(); // { scales: Float32Array [...], zeroPoints: Int32Array [...], axis: 0 }
 * ```
 */
export class PerChannelMinMaxObserver extends RangeObserver<PerChannelQScheme> {
  /** The channel axis as given (a negative axis counts from the end of each batch's shape). */
  readonly chAxis: number;

  constructor(options?: PerChannelMinMaxObserverOptions) {
    const [chAxis, rest] = splitOption(options, 'chAxis');
    super(resolveObserverOptions(rest, PER_CHANNEL_QSCHEMES, []));
    if (chAxis !== undefined && (typeof chAxis !== 'number' || !Number.isInteger(chAxis))) {
      throw new InvalidArgumentError('options.chAxis', chAxis, `options.chAxis is ${String(chAxis)}; use an integer axis, e.g. 0`);
    }
    this.chAxis = (chAxis as number | undefined) ?? 0;
  }

  /** The running minimum of each channel (a copy), empty before the first batch. */
  get minVals(): Float32Array { return this.runningMins?.slice() ?? new Float32Array(0); }

  /** The running maximum of each channel (a copy), empty before the first batch. */
  get maxVals(): Float32Array { return this.runningMaxs?.slice() ?? new Float32Array(0); }

  /**
   * One scale (float32) and zero point per channel, and the channel axis of the observed batches (as
   * `quantizePerChannel` takes them). Throws before any observe, and when a range is infinite.
   */
  calculateQParams(): { scales: Float32Array; zeroPoints: Int32Array; axis: number } {
    const { scales, zeroPoints, layout } = this.outputParams('minVals');
    return { scales, zeroPoints, axis: layout.axis! };
  }

  protected layoutFor(x: Tensor): ReductionLayout {
    return reductionLayout(x.shape, { axis: normalizeAxis(this.chAxis, x.shape.length, 'options.chAxis') });
  }

  protected describeOutputs(layout: ReductionLayout): string {
    return `${layout.outputs} channels along axis ${layout.axis}`;
  }
}
