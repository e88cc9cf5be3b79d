// The shapes of the PyTorch fixture files, shared by the unit tests (Node) and the GPU suites (in the
// page). Type-only: no imports at run time.
import type { QDType } from '../../src/dtype.js';

/** A fixture float: a JSON number, or "NaN" / "Infinity" / "-Infinity". */
export type FixtureFloat = number | 'NaN' | 'Infinity' | '-Infinity';

/** One observer run of test/fixtures/torch-observers.json: the batches fed, the state after each, the parameters. */
export interface ObserverCase {
  name: string;
  observer: 'MinMaxObserver' | 'PerChannelMinMaxObserver' | 'MovingAverageMinMaxObserver' | 'MovingAveragePerChannelMinMaxObserver';
  dtype: QDType;
  qscheme: string;
  reduce_range: boolean;
  quant_min_arg: number | null;
  quant_max_arg: number | null;
  quant_min: number;
  quant_max: number;
  ch_axis?: number;
  averaging_constant?: number;
  batches: { shape: number[]; input: FixtureFloat[] }[];
  states: { min_val: FixtureFloat[]; max_val: FixtureFloat[] }[];
  scale?: FixtureFloat;
  zero_point?: number;
  scales?: FixtureFloat[];
  zero_points?: number[];
}
