/**
 * `MovingAveragePerChannelMinMaxObserver`: PyTorch's observer of the same name. Per channel, the first batch
 * sets the range and each later batch moves it by `averagingConstant` (default 0.01) towards the batch's
 * own min and max, in float32 as PyTorch computes it.
 *
 * @example
 * ```ts
 * const observer = new MovingAveragePerChannelMinMaxObserver({ chAxis: 1, averagingConstant: 0.1 });
 * for (const batch of activations) await observer.observe(batch);
 * const { scales, zeroPoints, axis } = observer.calculateQParams();
 * ```
 * @module
 */
import { checkAveragingConstant, splitOption } from './observer-options.js';
import { PerChannelMinMaxObserver, type PerChannelMinMaxObserverOptions } from './per-channel-min-max-observer.js';

/** Options of {@link MovingAveragePerChannelMinMaxObserver}. */
export interface MovingAveragePerChannelMinMaxObserverOptions extends PerChannelMinMaxObserverOptions {
  /** The weight of each new batch, in (0, 1]; default 0.01. */
  averagingConstant?: number;
}

/**
 * See the module documentation.
 *
 * @example
 * ```ts
 * const observer = new MovingAveragePerChannelMinMaxObserver({ chAxis: 1, averagingConstant: 0.1 });
 * await observer.observe(tensor([-2, 2, -4, 0], [2, 2]));
 * observer.minVals; // Float32Array [-4, 0]
 * ```
 */
export class MovingAveragePerChannelMinMaxObserver extends PerChannelMinMaxObserver {
  /** The weight of each new batch. */
  readonly averagingConstant: number;

  constructor(options?: MovingAveragePerChannelMinMaxObserverOptions) {
    const [averagingConstant, rest] = splitOption(options, 'averagingConstant');
    super(rest);
    this.averagingConstant = checkAveragingConstant(averagingConstant);
    this.useMovingAverage(this.averagingConstant);
  }
}
