// Observer behaviour beyond the PyTorch fixtures: every rejected option (typed errors naming the option,
// the value and the fix), NaN in a batch, calculateQParams before observe, infinite ranges, channel counts
// that change between batches, reset, the returned tensor, and the quantization ranges of every dtype.
import { describe, expect, it } from 'vitest';
import {
  InvalidArgumentError, MinMaxObserver, MovingAverageMinMaxObserver, MovingAveragePerChannelMinMaxObserver, PerChannelMinMaxObserver, PerGroupMinMaxObserver, type QDType, quantizePerChannel, quantizePerGroup, quantizePerTensor, reference, tensor,
} from '../../src/index.js';
import { resolveQuantRange } from '../../src/calibration/quant-range.js';
import { expectInvalid, expectInvalidAsync } from './support.js';

const cpu = { backend: 'cpu' } as const;
/** Passes a deliberately ill-typed value through the type checker. */
const bad = <T>(value: unknown): T => value as T;

describe('observer options are validated in the constructor', () => {
  const cases: [string, () => unknown, { argument: string; value: unknown; mentions: string[] }][] = [
    ['unknown dtype', () => new MinMaxObserver({ dtype: bad('int8') }), { argument: 'options.dtype', value: 'int8', mentions: ['"int8"', 'qint8'] }],
    ['unknown qscheme', () => new MinMaxObserver({ qscheme: bad('per_channel_affine') }),
      { argument: 'options.qscheme', value: 'per_channel_affine', mentions: ["'per_tensor_affine'"] }],
    ['per-tensor qscheme on a per-channel observer', () => new PerChannelMinMaxObserver({ qscheme: bad('per_tensor_affine') }),
      { argument: 'options.qscheme', value: 'per_tensor_affine', mentions: ["'per_channel_symmetric'"] }],
    ['misspelt option', () => new MinMaxObserver(bad({ reduce_range: true })), { argument: 'options.reduce_range', value: true, mentions: ['reduceRange'] }],
    ['options not an object', () => new MinMaxObserver(bad('qint8')), { argument: 'options', value: 'qint8', mentions: ['object'] }],
    ['reduceRange not a boolean', () => new MinMaxObserver({ reduceRange: bad(1) }), { argument: 'options.reduceRange', value: 1, mentions: ['true or false'] }],
    ['quantMin >= quantMax', () => new MinMaxObserver({ quantMin: 5, quantMax: 5 }), { argument: 'options.quantMin', value: 5, mentions: ['less than'] }],
    ['range without 0', () => new MinMaxObserver({ quantMin: 1, quantMax: 15 }), { argument: 'options.quantMin', value: 1, mentions: ['[1, 15]', 'contain 0'] }],
    ['range past the dtype', () => new MinMaxObserver({ dtype: 'qint8', quantMin: -200, quantMax: 7 }),
      { argument: 'options.quantMin', value: -200, mentions: ['-200', '[-128, 127]'] }],
    ['quantMin alone', () => new MinMaxObserver({ quantMin: 0 }), { argument: 'options.quantMax', value: undefined, mentions: ['both'] }],
    ['non-integer quantMax', () => new MinMaxObserver({ quantMin: 0, quantMax: 15.5 }), { argument: 'options.quantMax', value: 15.5, mentions: ['15.5', 'integer'] }],
    ['symmetric quint8 with reduceRange', () => new MinMaxObserver({ qscheme: 'per_tensor_symmetric', reduceRange: true }),
      { argument: 'options.reduceRange', value: true, mentions: ['NotImplementedError'] }],
    ['averagingConstant 0', () => new MovingAverageMinMaxObserver({ averagingConstant: 0 }), { argument: 'options.averagingConstant', value: 0, mentions: ['(0, 1]'] }],
    ['averagingConstant 1.5', () => new MovingAveragePerChannelMinMaxObserver({ averagingConstant: 1.5 }),
      { argument: 'options.averagingConstant', value: 1.5, mentions: ['1.5'] }],
    ['averagingConstant NaN', () => new MovingAverageMinMaxObserver({ averagingConstant: NaN }), { argument: 'options.averagingConstant', value: NaN, mentions: ['NaN'] }],
    ['chAxis not an integer', () => new PerChannelMinMaxObserver({ chAxis: 0.5 }), { argument: 'options.chAxis', value: 0.5, mentions: ['0.5'] }],
    ['groupSize 0', () => new PerGroupMinMaxObserver({ axis: 0, groupSize: 0 }), { argument: 'options.groupSize', value: 0, mentions: ['positive'] }],
    ['group axis missing', () => new PerGroupMinMaxObserver(bad({ groupSize: 4 })), { argument: 'options.axis', value: undefined, mentions: ['integer'] }],
  ];
  for (const [name, make, want] of cases) it(name, () => expectInvalid(make, want));
});

describe('observe and calculateQParams', () => {
  it('observe returns x itself, and an empty batch changes nothing (as PyTorch)', async () => {
    const observer = new MinMaxObserver();
    const x = tensor([1, 2]);
    expect(await observer.observe(x, cpu)).toBe(x);
    await observer.observe(tensor([], [0, 3]), cpu);
    expect([observer.minVal, observer.maxVal]).toEqual([1, 2]);
  });

  it('before any observe: minVal +Infinity, maxVal -Infinity, and calculateQParams throws', () => {
    const observer = new MinMaxObserver();
    expect([observer.minVal, observer.maxVal]).toEqual([Infinity, -Infinity]);
    expectInvalid(() => observer.calculateQParams(), { argument: 'minVal', value: undefined, mentions: ['before any observe', 'scale 1'] });
    const channels = new PerChannelMinMaxObserver();
    expect(channels.minVals).toEqual(new Float32Array(0));
    expectInvalid(() => channels.calculateQParams(), { argument: 'minVals', value: undefined, mentions: ['observe'] });
  });

  it('NaN in a batch names its first flat index and leaves the observer as it was', async () => {
    const observer = new PerChannelMinMaxObserver({ chAxis: 1 });
    await observer.observe(tensor([1, 2, 3, 4, 5, 6], [2, 3]), cpu);
    const before = [observer.minVals, observer.maxVals];
    await expectInvalidAsync(() => observer.observe(tensor([1, 2, 3, 4, NaN, NaN], [2, 3]), cpu),
      { argument: 'x.data[4]', value: NaN, mentions: ['NaN', 'PyTorch asserts'] });
    expect([observer.minVals, observer.maxVals]).toEqual(before);
  });

  it('chAxis is checked against each batch; negative axes count from the end', async () => {
    const observer = new PerChannelMinMaxObserver({ chAxis: 2 });
    await expectInvalidAsync(() => observer.observe(tensor([1, 2, 3, 4], [2, 2]), cpu), { argument: 'options.chAxis', value: 2, mentions: ['rank-2'] });
    const last = new PerChannelMinMaxObserver({ chAxis: -1 });
    await last.observe(tensor([1, -2, 3, 4, 5, -6], [2, 3]), cpu);
    expect(last.minVals).toEqual(Float32Array.of(1, -2, -6));
    expect(last.calculateQParams().axis).toBe(1);
  });

  it('a channel count or group shape that changes between batches is rejected; reset() allows it', async () => {
    const observer = new PerChannelMinMaxObserver();
    await observer.observe(tensor([1, 2, 3, 4], [2, 2]), cpu);
    await expectInvalidAsync(() => observer.observe(tensor([1, 2, 3], [3, 1]), cpu), { argument: 'x.shape', value: [3, 1], mentions: ['3 channels', 'earlier batches had 2'] });
    observer.reset();
    await observer.observe(tensor([1, 2, 3], [3, 1]), cpu);
    expect(observer.minVals).toEqual(Float32Array.of(1, 2, 3));
    const groups = new PerGroupMinMaxObserver({ axis: 1, groupSize: 2 });
    await groups.observe(tensor([1, 2, 3, 4], [2, 2]), cpu);
    await expectInvalidAsync(() => groups.observe(tensor([1, 2, 3, 4], [1, 4]), cpu), { argument: 'x.shape', value: [1, 4], mentions: ['[2, 2]'] });
  });

  it('an infinite observed range is rejected when parameters are asked for (PyTorch returns garbage)', async () => {
    const observer = new MinMaxObserver();
    await observer.observe(tensor([-Infinity, 1]), cpu);
    expect(observer.minVal).toBe(-Infinity);
    expectInvalid(() => observer.calculateQParams(), { argument: 'x', value: -Infinity, mentions: ['-Infinity', 'finite'] });
    const wide = new MinMaxObserver();
    await wide.observe(tensor([-3e38, 3e38]), cpu);
    expectInvalid(() => wide.calculateQParams(), { argument: 'x', value: [-3e38, 3e38].map(Math.fround), mentions: ['too wide'] });
  });

  it('moving average: the first batch sets the range, later ones move it by c in float32', async () => {
    const observer = new MovingAverageMinMaxObserver({ averagingConstant: 0.5 });
    await observer.observe(tensor([-2, 2]), cpu);
    await observer.observe(tensor([-4, 0]), cpu);
    expect([observer.minVal, observer.maxVal]).toEqual([-3, 1]);
    expect(new MovingAverageMinMaxObserver().averagingConstant).toBe(0.01);
    observer.reset();
    await observer.observe(tensor([5, 6]), cpu);
    expect([observer.minVal, observer.maxVal]).toEqual([5, 6]);
  });

  it('per-group observer: ONNX block layout, ragged last group, parameters accepted by quantizePerGroup', async () => {
    const observer = new PerGroupMinMaxObserver({ axis: 1, groupSize: 4, dtype: 'qint4', qscheme: 'per_group_symmetric' });
    const w = tensor([1, 5, -2, 7, 0, 3, /* row 1 */ -8, 0, 0, 0, 2, -1], [2, 6]);
    await observer.observe(w, cpu);
    expect(observer.minVals).toEqual(Float32Array.of(-2, 0, -8, -1));
    expect(observer.maxVals).toEqual(Float32Array.of(7, 3, 0, 2));
    const p = observer.calculateQParams();
    expect(p.scales).toEqual(Float32Array.of(7 / 7.5, 3 / 7.5, 8 / 7.5, 2 / 7.5));
    expect(p.zeroPoints).toEqual(Int32Array.of(0, 0, 0, 0));
    const q = await quantizePerGroup(w, p.scales, p.zeroPoints, p.axis, p.groupSize, 'qint4', cpu);
    expect([...q.intRepr()]).toEqual([1, 5, -2, 7, 0, 7, -7, 0, 0, 0, 7, -4]);
  });

  it('parameters go straight into quantizePerTensor and quantizePerChannel', async () => {
    const x = tensor([-1, 0.5, 2, 8, -3, 1], [2, 3]);
    const perTensor = new MinMaxObserver({ dtype: 'qint8' });
    await perTensor.observe(x, cpu);
    const { scale, zeroPoint } = perTensor.calculateQParams();
    expect((await quantizePerTensor(x, scale, zeroPoint, 'qint8', cpu)).intRepr()).toEqual(reference.quantizePerTensor(x, scale, zeroPoint, 'qint8').intRepr());
    const perChannel = new PerChannelMinMaxObserver({ chAxis: 1, dtype: 'qint8', qscheme: 'per_channel_symmetric' });
    await perChannel.observe(x, cpu);
    const p = perChannel.calculateQParams();
    const q = await quantizePerChannel(x, p.scales, p.zeroPoints, p.axis, 'qint8', cpu);
    // Channel ranges 8, 3, 2: 2 / (2 / 127.5) = 127.5 rounds to 128 and saturates; -3 / (3 / 127.5) ties to -128.
    expect([...q.intRepr()]).toEqual([-16, 21, 127, 127, -128, 64]);
  });
});

describe('quantization ranges', () => {
  const cases: [QDType, object, boolean, [number, number, number]][] = [
    ['qint8', {}, false, [-128, 127, 0]],
    ['qint8', { reduceRange: true }, false, [-64, 63, 0]],
    ['quint8', {}, false, [0, 255, 128]],
    ['quint8', { reduceRange: true }, false, [0, 127, 128]],
    ['quint8', { quantMin: 0, quantMax: 15 }, true, [0, 15, 7]],
    ['quint8', { quantMin: 0, quantMax: 127, reduceRange: true }, false, [0, 63, 31]],
    ['qint8', { quantMin: -8, quantMax: 7, reduceRange: true }, true, [-4, 3, 0]],
    ['qint32', { reduceRange: true }, false, [-(2 ** 31), 2 ** 31 - 1, 0]],
    ['qint4', {}, true, [-8, 7, 0]],
    ['qint4', { reduceRange: true }, true, [-4, 3, 0]],
    ['quint4', {}, true, [0, 15, 7]],
  ];
  for (const [dtype, options, symmetric, [qmin, qmax, zero]] of cases) {
    it(`${dtype} ${JSON.stringify(options)}: ${qmin}..${qmax}, symmetric zero point ${zero}`, () => {
      expect(resolveQuantRange(dtype, options, symmetric)).toEqual({ qmin, qmax, symmetricZeroPoint: zero });
    });
  }
  it('an observer reports the resolved range', () => {
    const observer = new MinMaxObserver({ dtype: 'qint8', reduceRange: true });
    expect([observer.quantMin, observer.quantMax, observer.dtype, observer.qscheme, observer.reduceRange]).toEqual([-64, 63, 'qint8', 'per_tensor_affine', true]);
    expect(new MinMaxObserver().dtype).toBe('quint8');
  });
  it('the error class is InvalidArgumentError', () => {
    expect(() => new MinMaxObserver({ dtype: bad('x') })).toThrow(InvalidArgumentError);
  });
});
