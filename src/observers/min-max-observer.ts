/**
 * `MinMaxObserver`: PyTorch's `torch.ao.quantization.MinMaxObserver`. It records the running min and max of
 * the batches it observes and computes a per-tensor scale and zero point from them, with the same float32
 * results as PyTorch (checked on PyTorch's own fixtures).
 *
 * @example
 * ```ts
 * import { MinMaxObserver, quantizePerTensor, tensor } from 'webgpu-quant';
 * const observer = new MinMaxObserver({ dtype: 'quint8' });
 * await observer.observe(tensor([-4.588221, 2.8877935]));
 * const { scale, zeroPoint } = observer.calculateQParams(); // 0.029317705…, 157
 * const q = await quantizePerTensor(x, scale, zeroPoint, 'quint8');
 * ```
 * @module
 */
import { type ReductionLayout, reductionLayout } from '../calibration/granularity.js';
import type { Tensor } from '../tensor.js';
import { type BaseObserverOptions, PER_TENSOR_QSCHEMES, resolveObserverOptions } from './observer-options.js';
import { RangeObserver } from './range-observer.js';

/** A per-tensor scheme. */
export type PerTensorQScheme = (typeof PER_TENSOR_QSCHEMES)[number];

/** Options of {@link MinMaxObserver}. */
export interface MinMaxObserverOptions extends BaseObserverOptions {
  /** 'per_tensor_affine' (default) or 'per_tensor_symmetric'. */
  qscheme?: PerTensorQScheme;
}

/**
 * See the module documentation. `minVal` / `maxVal` are +Infinity / -Infinity before the first batch, as
 * PyTorch's buffers.
 *
 * @example
 * ```ts
 * const observer = new MinMaxObserver({ dtype: 'qint8', qscheme: 'per_tensor_symmetric' });
 * await observer.observe(tensor([-1, 3]), { backend: 'webgpu' });
 * observer.minVal;              // -1
 * observer.calculateQParams();  // { scale: 0.023529412…, zeroPoint: 0 }
 * ```
 */
export class MinMaxObserver extends RangeObserver<PerTensorQScheme> {
  constructor(options?: MinMaxObserverOptions) {
    super(resolveObserverOptions(options, PER_TENSOR_QSCHEMES, []));
  }

  /** The running minimum (+Infinity before any batch). */
  get minVal(): number { return this.runningMins?.[0] ?? Infinity; }

  /** The running maximum (-Infinity before any batch). */
  get maxVal(): number { return this.runningMaxs?.[0] ?? -Infinity; }

  /**
   * The scale (a float32 value) and zero point of the observed range. Throws before any observe, and
   * when the range is infinite.
   */
  calculateQParams(): { scale: number; zeroPoint: number } {
    const { scales, zeroPoints } = this.outputParams('minVal');
    return { scale: scales[0]!, zeroPoint: zeroPoints[0]! };
  }

  protected layoutFor(x: Tensor): ReductionLayout {
    return reductionLayout(x.shape, 'per_tensor');
  }

  protected describeOutputs(): string { return 'one range'; }
}
