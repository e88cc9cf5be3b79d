// Every rejected argument: one test per case, each through the CPU reference and the public async API
// ({ backend: 'cpu' }) where both take it. Each checks the error class, `.argument`, `.value`, and that the
// message names the argument and the value (house style: name the argument, the value and the fix).
import { describe, expect, it } from 'vitest';
import {
  type OpOptions, type PerChannelParams, type PerTensorParams, type QDType, type Tensor, dequantize, fromIntRepr, getBackend, quantizePerChannel, quantizePerTensor, reference, tensor,
} from '../../src/index.js';
import { MAX_SCALE, MIN_SCALE } from '../../src/validate.js';
import { type Rejection, expectInvalid, expectInvalidAsync } from './support.js';

const cpu: OpOptions = { backend: 'cpu' };
/** Passes a deliberately ill-typed value through the type checker. */
const bad = <T>(value: unknown): T => value as T;

interface Paths { reference?: () => unknown; api?: () => Promise<unknown> }

function perTensor(input: Tensor, scale: number, zeroPoint: number, dtype: QDType): Paths {
  return {
    reference: () => reference.quantizePerTensor(input, scale, zeroPoint, dtype),
    api: () => quantizePerTensor(input, scale, zeroPoint, dtype, cpu),
  };
}

function perChannel(input: Tensor, scales: ArrayLike<number>, zeroPoints: ArrayLike<number>, axis: number, dtype: QDType): Paths {
  return {
    reference: () => reference.quantizePerChannel(input, scales, zeroPoints, axis, dtype),
    api: () => quantizePerChannel(input, scales, zeroPoints, axis, dtype, cpu),
  };
}

/** One test: every path given must reject as `want`. */
function rejects(name: string, paths: Paths, want: Rejection): void {
  it(name, async () => {
    expect(paths.reference ?? paths.api, 'a case needs at least one path').toBeDefined();
    if (paths.reference) expectInvalid(paths.reference, want);
    if (paths.api) await expectInvalidAsync(paths.api, want);
  });
}

const x = tensor([1, 2, -3, 0.25]);
const x2x3 = tensor([1, 2, 3, 4, 5, 6], [2, 3]);

describe('per-tensor scale', () => {
  rejects('scale 0', perTensor(x, 0, 0, 'qint8'), { argument: 'scale', value: 0, mentions: ['scale is 0', '> 0'] });
  rejects('negative scale', perTensor(x, -0.5, 0, 'qint8'), { argument: 'scale', value: -0.5, mentions: ['-0.5', '> 0'] });
  rejects('NaN scale', perTensor(x, NaN, 0, 'qint8'), { argument: 'scale', value: NaN, mentions: ['NaN'] });
  rejects('+Infinity scale', perTensor(x, Infinity, 0, 'qint8'), { argument: 'scale', value: Infinity, mentions: ['Infinity', 'finite'] });
  rejects('-Infinity scale', perTensor(x, -Infinity, 0, 'quint8'), { argument: 'scale', value: -Infinity, mentions: ['-Infinity'] });
  // The accepted range is the float32 normal numbers with a normal reciprocal, [MIN_SCALE, MAX_SCALE]
  // (src/validate.ts): GPUs may flush subnormals, which would break bit-exactness.
  rejects('scale 1e-45 (a float32 subnormal; its reciprocal overflows)', perTensor(x, 1e-45, 0, 'qint8'),
    { argument: 'scale', value: 1e-45, mentions: ['1e-45', 'range'] });
  rejects('scale 1e-46 (rounds to 0 in float32)', perTensor(x, 1e-46, 0, 'qint8'),
    { argument: 'scale', value: 1e-46, mentions: ['1e-46', 'range'] });
  rejects('scale just below MIN_SCALE once rounded to float32', perTensor(x, MIN_SCALE / 2, 0, 'qint8'),
    { argument: 'scale', value: MIN_SCALE / 2, mentions: [String(MIN_SCALE / 2)] });
  rejects('scale 1e39 (overflows float32)', perTensor(x, 1e39, 0, 'qint32'),
    { argument: 'scale', value: 1e39, mentions: ['1e+39', 'range'] });
  rejects('scale just above MAX_SCALE', perTensor(x, MAX_SCALE * 2, 0, 'qint32'),
    { argument: 'scale', value: MAX_SCALE * 2, mentions: [String(MAX_SCALE * 2)] });
  it('accepts the range limits MIN_SCALE and MAX_SCALE themselves', () => {
    expect(Array.from(reference.quantizePerTensor(tensor([3 * MIN_SCALE, -2 * MIN_SCALE]), MIN_SCALE, 0, 'qint8').intRepr()))
      .toEqual([3, -2]);
    expect(Array.from(reference.quantizePerTensor(tensor([3 * MAX_SCALE, -MAX_SCALE]), MAX_SCALE, 0, 'qint8').intRepr()))
      .toEqual([3, -1]);
  });
  rejects('scale given as a string', perTensor(x, bad<number>('0.5'), 0, 'qint8'), { argument: 'scale', value: '0.5', mentions: ['0.5'] });
  rejects('scale undefined', perTensor(x, bad<number>(undefined), 0, 'qint8'), { argument: 'scale', value: undefined, mentions: ['undefined'] });
});

describe('per-tensor zero point', () => {
  rejects('non-integer zero point 0.5', perTensor(x, 1, 0.5, 'qint8'),
    { argument: 'zeroPoint', value: 0.5, mentions: ['zeroPoint is 0.5', 'integer'] });
  rejects('NaN zero point', perTensor(x, 1, NaN, 'quint8'), { argument: 'zeroPoint', value: NaN, mentions: ['NaN'] });
  rejects('zero point as a string', perTensor(x, 1, bad<number>('1'), 'qint8'), { argument: 'zeroPoint', value: '1', mentions: ['zeroPoint is 1'] });
  rejects('qint8 zero point -129', perTensor(x, 1, -129, 'qint8'),
    { argument: 'zeroPoint', value: -129, mentions: ['-129', 'qint8', '[-128, 127]'] });
  rejects('qint8 zero point 128', perTensor(x, 1, 128, 'qint8'),
    { argument: 'zeroPoint', value: 128, mentions: ['128', 'qint8', '[-128, 127]'] });
  rejects('quint8 zero point -1', perTensor(x, 1, -1, 'quint8'),
    { argument: 'zeroPoint', value: -1, mentions: ['-1', 'quint8', '[0, 255]'] });
  rejects('quint8 zero point 256', perTensor(x, 1, 256, 'quint8'),
    { argument: 'zeroPoint', value: 256, mentions: ['256', 'quint8', '[0, 255]'] });
  rejects('qint32 zero point 2^31', perTensor(x, 1, 2 ** 31, 'qint32'),
    { argument: 'zeroPoint', value: 2 ** 31, mentions: ['2147483648', 'qint32', '[-2147483648, 2147483647]'] });
  rejects('qint32 zero point -2^31 - 1', perTensor(x, 1, -(2 ** 31) - 1, 'qint32'),
    { argument: 'zeroPoint', value: -(2 ** 31) - 1, mentions: ['-2147483649', 'qint32'] });
});

describe('per-channel scales and zero points', () => {
  rejects('scales[1] = 0', perChannel(x2x3, [0.5, 0], [0, 0], 0, 'qint8'), { argument: 'scales[1]', value: 0, mentions: ['scales[1] is 0'] });
  rejects('scales[0] negative', perChannel(x2x3, [-1, 1], [0, 0], 0, 'qint8'), { argument: 'scales[0]', value: -1, mentions: ['-1'] });
  rejects('scales[2] NaN', perChannel(x2x3, [1, 1, NaN], [0, 0, 0], 1, 'qint8'), { argument: 'scales[2]', value: NaN, mentions: ['NaN'] });
  rejects('scales[1] Infinity', perChannel(x2x3, [1, Infinity], [0, 0], 0, 'quint8'),
    { argument: 'scales[1]', value: Infinity, mentions: ['Infinity'] });
  rejects('scales[1] = 1e-45 (float32 subnormal)', perChannel(x2x3, Float64Array.of(1, 1e-45), [0, 0], 0, 'qint8'),
    { argument: 'scales[1]', value: 1e-45, mentions: ['1e-45'] });
  rejects('scales[0] = 1e39 (float32 overflow)', perChannel(x2x3, [1e39, 1], [0, 0], 0, 'qint32'),
    { argument: 'scales[0]', value: 1e39, mentions: ['1e+39'] });
  rejects('scales[1] a string', perChannel(x2x3, bad<number[]>([1, '2']), [0, 0], 0, 'qint8'),
    { argument: 'scales[1]', value: '2', mentions: ['scales[1] is 2'] });
  rejects('zeroPoints[1] = 128 for qint8', perChannel(x2x3, [1, 1], [0, 128], 0, 'qint8'),
    { argument: 'zeroPoints[1]', value: 128, mentions: ['zeroPoints[1] is 128', '[-128, 127]'] });
  rejects('zeroPoints[2] = -1 for quint8', perChannel(x2x3, [1, 1, 1], [0, 5, -1], 1, 'quint8'),
    { argument: 'zeroPoints[2]', value: -1, mentions: ['zeroPoints[2] is -1', '[0, 255]'] });
  rejects('zeroPoints[0] = 2^31 for qint32', perChannel(x2x3, [1, 1], [2 ** 31, 0], 0, 'qint32'),
    { argument: 'zeroPoints[0]', value: 2 ** 31, mentions: ['2147483648'] });
  rejects('zeroPoints[1] = 0.5', perChannel(x2x3, [1, 1], [0, 0.5], 0, 'qint8'),
    { argument: 'zeroPoints[1]', value: 0.5, mentions: ['0.5', 'integer'] });
  rejects('scales longer than the axis', perChannel(x2x3, [1, 1, 1], [0, 0], 0, 'qint8'),
    { argument: 'scales', value: [1, 1, 1], mentions: ['3 values', 'size 2'] });
  rejects('scales shorter than the axis', perChannel(x2x3, [1, 1], [0, 0, 0], 1, 'qint8'),
    { argument: 'scales', value: [1, 1], mentions: ['2 values', 'size 3'] });
  rejects('zeroPoints length differs from the axis', perChannel(x2x3, [1, 1], [0], 0, 'qint8'),
    { argument: 'zeroPoints', value: [0], mentions: ['1 values', 'size 2'] });
  rejects('scales not an array', perChannel(x2x3, bad<number[]>(0.5), [0, 0], 0, 'qint8'),
    { argument: 'scales', value: 0.5, mentions: ['array'] });
});

describe('axis', () => {
  rejects('axis past the rank', perChannel(x2x3, [1, 1], [0, 0], 2, 'qint8'),
    { argument: 'axis', value: 2, mentions: ['axis 2', 'rank-2', '[-2, 1]'] });
  rejects('negative axis past the rank', perChannel(x2x3, [1, 1], [0, 0], -3, 'qint8'),
    { argument: 'axis', value: -3, mentions: ['axis -3', 'rank-2', '[-2, 1]'] });
  rejects('non-integer axis', perChannel(x2x3, [1, 1], [0, 0], 0.5, 'qint8'), { argument: 'axis', value: 0.5, mentions: ['axis 0.5'] });
  rejects('NaN axis', perChannel(x2x3, [1, 1], [0, 0], NaN, 'qint8'), { argument: 'axis', value: NaN, mentions: ['axis NaN'] });
  rejects('axis on a rank-0 tensor', perChannel(tensor([5], []), [1], [0], 0, 'qint8'),
    { argument: 'axis', value: 0, mentions: ['axis 0', 'rank-0', 'per-tensor'] });
});

describe('tensors and shapes', () => {
  it('tensor(): data length differs from the product of the shape', () => {
    expectInvalid(() => tensor([1, 2, 3], [2, 2]), { argument: 'shape', value: [2, 2], mentions: ['3 elements', '[2, 2]', 'needs 4'] });
  });
  it('tensor(): negative dimension', () => {
    expectInvalid(() => tensor([], [2, -1]), { argument: 'shape[1]', value: -1, mentions: ['shape[1] is -1', 'non-negative'] });
  });
  it('tensor(): non-integer dimension', () => {
    expectInvalid(() => tensor([1, 2, 3], [2, 1.5]), { argument: 'shape[1]', value: 1.5, mentions: ['shape[1] is 1.5'] });
  });
  it('tensor(): data that is not array-like', () => {
    expectInvalid(() => tensor(bad<number[]>(null)), { argument: 'data', value: null, mentions: ['array'] });
  });
  it('tensor(): more than 2^32 - 1 elements', () => {
    expectInvalid(() => tensor([], [2 ** 16, 2 ** 16]), { argument: 'shape', value: [2 ** 16, 2 ** 16], mentions: ['4294967296', '2^32 - 1'] });
  });
  const handMade: Tensor = { data: new Float32Array(3), shape: [2, 2] };
  rejects('hand-made tensor whose data length differs from its shape (per tensor)', perTensor(handMade, 1, 0, 'qint8'),
    { argument: 'input.shape', value: [2, 2], mentions: ['3 elements', '[2, 2]', 'needs 4'] });
  rejects('hand-made tensor whose data length differs from its shape (per channel)', perChannel(handMade, [1, 1], [0, 0], 0, 'qint8'),
    { argument: 'input.shape', value: [2, 2], mentions: ['3 elements', '[2, 2]'] });
  rejects('hand-made tensor with a negative dimension', perTensor({ data: new Float32Array(0), shape: [-1] }, 1, 0, 'qint8'),
    { argument: 'input.shape[0]', value: -1, mentions: ['input.shape[0] is -1'] });
  rejects('hand-made tensor with a non-integer dimension', perTensor({ data: new Float32Array(2), shape: [2.5] }, 1, 0, 'qint8'),
    { argument: 'input.shape[0]', value: 2.5, mentions: ['2.5'] });
  const plainArray = bad<Tensor>({ data: [1, 2], shape: [2] });
  rejects('input whose data is not a Float32Array', perTensor(plainArray, 1, 0, 'qint8'),
    { argument: 'input', value: plainArray, mentions: ['Float32Array', 'tensor(data, shape)'] });
});

describe('dtype', () => {
  rejects('unknown dtype "int8" (per tensor)', perTensor(x, 1, 0, bad<QDType>('int8')),
    { argument: 'dtype', value: 'int8', mentions: ['"int8"', 'qint8, quint8, qint32'] });
  rejects('unknown dtype "int8" (per channel)', perChannel(x2x3, [1, 1], [0, 0], 0, bad<QDType>('int8')),
    { argument: 'dtype', value: 'int8', mentions: ['"int8"'] });
  rejects('dtype inherited from Object.prototype ("toString")', perTensor(x, 1, 0, bad<QDType>('toString')),
    { argument: 'dtype', value: 'toString', mentions: ['"toString"'] });
  it('fromIntRepr with an unknown dtype', () => {
    expectInvalid(() => fromIntRepr([1], [1], bad<QDType>('int8'), { scale: 1, zeroPoint: 0 }),
      { argument: 'dtype', value: 'int8', mentions: ['"int8"'] });
  });
});

describe('dequantize', () => {
  const notQ = { data: new Float32Array(2), shape: [2] };
  rejects('a non-QTensor', {
    reference: () => reference.dequantize(bad(notQ)), api: () => dequantize(bad(notQ), cpu),
  }, { argument: 'q', value: notQ, mentions: ['QTensor'] });
  rejects('undefined', {
    reference: () => reference.dequantize(bad(undefined)), api: () => dequantize(bad(undefined), cpu),
  }, { argument: 'q', value: undefined, mentions: ['QTensor'] });
});

describe('options', () => {
  const q = fromIntRepr([1, 2], [2], 'qint8', { scale: 1, zeroPoint: 0 });
  /** Every async operation with these options. */
  const withOptions = (options: unknown): (() => Promise<unknown>)[] => [
    () => quantizePerTensor(x, 1, 0, 'qint8', bad(options)),
    () => quantizePerChannel(x2x3, [1, 1], [0, 0], 0, 'qint8', bad(options)),
    () => dequantize(q, bad(options)),
    () => getBackend(bad(options)),
  ];
  // The fix each message offers.
  const optionCases: [string, unknown, Rejection][] = [
    ['backend "cuda"', { backend: 'cuda' }, { argument: 'options.backend', value: 'cuda', mentions: ['auto, webgpu, cpu'] }],
    ['options null', null, { argument: 'options', value: null, mentions: ['object'] }],
    ['options a string', 'cpu', { argument: 'options', value: 'cpu', mentions: ['object'] }],
    ['maxChunkElements 3', { backend: 'cpu', maxChunkElements: 3 }, { argument: 'options.maxChunkElements', value: 3, mentions: ['>= 4'] }],
    ['maxChunkElements 4.5', { backend: 'cpu', maxChunkElements: 4.5 }, { argument: 'options.maxChunkElements', value: 4.5, mentions: ['integer'] }],
    ['maxWorkgroupsPerDimension 0', { backend: 'cpu', maxWorkgroupsPerDimension: 0 },
      { argument: 'options.maxWorkgroupsPerDimension', value: 0, mentions: ['>= 1'] }],
  ];
  for (const [name, options, want] of optionCases) {
    it(name, async () => {
      for (const run of withOptions(options)) await expectInvalidAsync(run, want);
    });
  }
  for (const [name, options, want] of optionCases) {
    it(`${name}: the message shows the value given`, async () => {
      let message = '';
      try { await getBackend(bad(options)); } catch (error) { message = (error as Error).message; }
      expect(message).toContain(want.argument);
      expect(message).toContain(typeof want.value === 'string' ? want.value : String(want.value));
    });
  }
});

describe('fromIntRepr', () => {
  const pt: PerTensorParams = { scale: 0.5, zeroPoint: 0 };
  it('qint8 value 128', () => expectInvalid(() => fromIntRepr([0, 128], [2], 'qint8', pt),
    { argument: 'intRepr[1]', value: 128, mentions: ['intRepr[1] is 128', 'qint8', '[-128, 127]'] }));
  it('qint8 value -129', () => expectInvalid(() => fromIntRepr([-129, 0], [2], 'qint8', pt),
    { argument: 'intRepr[0]', value: -129, mentions: ['intRepr[0] is -129'] }));
  it('quint8 value -1', () => expectInvalid(() => fromIntRepr([0, 1, -1], [3], 'quint8', pt),
    { argument: 'intRepr[2]', value: -1, mentions: ['intRepr[2] is -1', '[0, 255]'] }));
  it('quint8 value 256', () => expectInvalid(() => fromIntRepr([256], [1], 'quint8', pt),
    { argument: 'intRepr[0]', value: 256, mentions: ['intRepr[0] is 256'] }));
  it('qint32 value 2^31', () => expectInvalid(() => fromIntRepr([0, 2 ** 31], [2], 'qint32', pt),
    { argument: 'intRepr[1]', value: 2 ** 31, mentions: ['2147483648', 'qint32'] }));
  it('non-integer value', () => expectInvalid(() => fromIntRepr([1.5, 0], [2], 'qint8', pt),
    { argument: 'intRepr[0]', value: 1.5, mentions: ['intRepr[0] is 1.5', 'integers'] }));
  it('NaN value', () => expectInvalid(() => fromIntRepr([0, NaN], [2], 'qint32', pt),
    { argument: 'intRepr[1]', value: NaN, mentions: ['intRepr[1] is NaN'] }));
  it('wrong length', () => expectInvalid(() => fromIntRepr([1, 2, 3], [2, 2], 'qint8', pt),
    { argument: 'intRepr', value: [1, 2, 3], mentions: ['3 values', '[2, 2]', 'needs 4'] }));
  it('intRepr not array-like', () => expectInvalid(() => fromIntRepr(bad<number[]>(7), [1], 'qint8', pt),
    { argument: 'intRepr', value: 7, mentions: ['array'] }));
  it('negative dimension', () => expectInvalid(() => fromIntRepr([], [0, -2], 'qint8', pt),
    { argument: 'shape[1]', value: -2, mentions: ['shape[1] is -2'] }));
  it('bad per-tensor scale', () => expectInvalid(() => fromIntRepr([1], [1], 'qint8', { scale: 0, zeroPoint: 0 }),
    { argument: 'scale', value: 0, mentions: ['scale is 0'] }));
  it('bad per-tensor zero point', () => expectInvalid(() => fromIntRepr([1], [1], 'quint8', { scale: 1, zeroPoint: 256 }),
    { argument: 'zeroPoint', value: 256, mentions: ['256'] }));
  const pc: PerChannelParams = { scales: [1, 2], zeroPoints: [0, 300], axis: 1 };
  it('bad per-channel zero point', () => expectInvalid(() => fromIntRepr([0, 0, 0, 0], [2, 2], 'quint8', pc),
    { argument: 'zeroPoints[1]', value: 300, mentions: ['zeroPoints[1] is 300'] }));
  it('bad per-channel axis', () => expectInvalid(() => fromIntRepr([0, 0], [2], 'qint8', { scales: [1, 1], zeroPoints: [0, 0], axis: 1 }),
    { argument: 'axis', value: 1, mentions: ['axis 1', 'rank-1'] }));
  it('params null', () => expectInvalid(() => fromIntRepr([0], [1], 'qint8', bad<PerTensorParams>(null)),
    { argument: 'params', value: null, mentions: ['scale', 'zeroPoint'] }));
});

describe('scheme-specific accessors', () => {
  const perChannelQ = fromIntRepr([0, 0], [2], 'qint8', { scales: [1, 2], zeroPoints: [0, 0], axis: 0 });
  const perTensorQ = fromIntRepr([0, 0], [2], 'qint8', { scale: 1, zeroPoint: 0 });
  for (const method of ['qScale', 'qZeroPoint'] as const) {
    it(`${method}() on a per-channel tensor`, () => expectInvalid(() => perChannelQ[method](),
      { argument: 'qscheme', named: `${method}()`, value: 'per_channel_affine', mentions: ['per_channel_affine', 'qPerChannel'] }));
  }
  for (const method of ['qPerChannelScales', 'qPerChannelZeroPoints', 'qPerChannelAxis'] as const) {
    it(`${method}() on a per-tensor tensor`, () => expectInvalid(() => perTensorQ[method](),
      { argument: 'qscheme', named: `${method}()`, value: 'per_tensor_affine', mentions: ['per_tensor_affine', 'qScale()'] }));
  }
});
