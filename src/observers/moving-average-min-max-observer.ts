/**
 * `MovingAverageMinMaxObserver`: PyTorch's observer of the same name. The first batch sets the range; each
 * later batch moves it by `averagingConstant` (default 0.01) towards the batch's own min and max, in float32
 * as PyTorch computes it: `min = fround(min + fround(fround(c) * fround(batchMin - min)))`.
 *
 * @example
 * ```ts
 * const observer = new MovingAverageMinMaxObserver({ averagingConstant: 0.5 });
 * await observer.observe(tensor([-2, 2]));
 * await observer.observe(tensor([-4, 0]));
 * observer.minVal; observer.maxVal; // -3, 1
 * ```
 * @module
 */
import { type MinMaxObserverOptions, MinMaxObserver } from './min-max-observer.js';
import { checkAveragingConstant, splitOption } from './observer-options.js';

/** Options of {@link MovingAverageMinMaxObserver}. */
export interface MovingAverageMinMaxObserverOptions extends MinMaxObserverOptions {
  /** The weight of each new batch, in (0, 1]; default 0.01. */
  averagingConstant?: number;
}

/**
 * See the module documentation.
 *
 * @example
 * ```ts
 * const observer = new MovingAverageMinMaxObserver({ dtype: 'qint8', averagingConstant: 0.1 });
 * for (const batch of batches) await observer.observe(batch);
 * observer.calculateQParams(); // { scale, zeroPoint }
 * ```
 */
export class MovingAverageMinMaxObserver extends MinMaxObserver {
  /** The weight of each new batch. */
  readonly averagingConstant: number;

  constructor(options?: MovingAverageMinMaxObserverOptions) {
    const [averagingConstant, rest] = splitOption(options, 'averagingConstant');
    super(rest);
    this.averagingConstant = checkAveragingConstant(averagingConstant);
    this.useMovingAverage(this.averagingConstant);
  }
}
