/**
 * Re-exports of src/observers/: PyTorch's min/max observers (running and moving-average, per tensor and per
 * channel) and a per-group observer.
 *
 * @example
 * ```ts
 * import { MinMaxObserver } from 'webgpu-quant';
 * const observer = new MinMaxObserver();
 * ```
 * @module
 */
export { type MinMaxObserverOptions, MinMaxObserver, type PerTensorQScheme } from './min-max-observer.js';
export {
  MovingAverageMinMaxObserver, type MovingAverageMinMaxObserverOptions,
} from './moving-average-min-max-observer.js';
export {
  MovingAveragePerChannelMinMaxObserver, type MovingAveragePerChannelMinMaxObserverOptions,
} from './moving-average-per-channel-min-max-observer.js';
export type { BaseObserverOptions } from './observer-options.js';
export { PerChannelMinMaxObserver, type PerChannelMinMaxObserverOptions, type PerChannelQScheme } from './per-channel-min-max-observer.js';
export { PerGroupMinMaxObserver, type PerGroupMinMaxObserverOptions, type PerGroupQScheme } from './per-group-min-max-observer.js';
export type { QuantRangeOptions } from './quant-range.js';
