// The CPU reference against real PyTorch (test/fixtures/torch-quantize.json, made by
// test/fixtures/generate_torch_fixtures.py): every case, integers exactly, floats bit for bit.
import { describe, expect, it } from 'vitest';
import {
  type QTensor, type Tensor, dequantize, fromIntRepr, quantizePerChannel, quantizePerTensor, reference, tensor,
} from '../../src/index.js';
import {
  type DequantizePerChannelCase, type DequantizePerTensorCase, type FixtureCase, type QuantizePerChannelCase,
  type QuantizePerTensorCase, decodeFloat, decodeFloat32s, decodeFloats, loadFixture, mismatches,
} from './support.js';

const fixture = loadFixture();
const cases = fixture.cases;

function casesOf<Op extends FixtureCase['op']>(op: Op): Extract<FixtureCase, { op: Op }>[] {
  return cases.filter((c): c is Extract<FixtureCase, { op: Op }> => c.op === op);
}

const quantizePerTensorCases = casesOf('quantize_per_tensor');
const quantizePerChannelCases = casesOf('quantize_per_channel');
const dequantizePerTensorCases = casesOf('dequantize_per_tensor');
const dequantizePerChannelCases = casesOf('dequantize_per_channel');

/** Collects the problems of every case, then fails once with all of them, each headed by its case name. */
class Report {
  readonly problems: string[] = [];
  checked = 0;
  add(name: string, text: string): void { if (text) this.problems.push(`${name}: ${text}`); }
  same(name: string, what: string, actual: unknown, expected: unknown): void {
    if (!Object.is(actual, expected)) this.problems.push(`${name}: ${what} is ${String(actual)}, expected ${String(expected)}`);
  }
  /** Fails unless no problem was recorded and `expectedCount` cases (> 0) were checked. */
  finish(expectedCount: number): void {
    const text = this.problems.join('\n');
    expect(text, text).toBe('');
    expect(expectedCount).toBeGreaterThan(0);
    expect(this.checked).toBe(expectedCount);
  }
}

function checkQuantized(report: Report, c: QuantizePerTensorCase | QuantizePerChannelCase, q: QTensor, deq: Tensor): void {
  report.same(c.name, 'dtype', q.dtype, c.dtype);
  report.add(c.name, mismatches(q.shape, c.shape, 'shape'));
  report.add(c.name, mismatches(q.intRepr(), c.int_repr, 'int_repr'));
  report.add(c.name, mismatches(deq.data, decodeFloat32s(c.dequantize, 'dequantize'), 'dequantize', true));
  report.add(c.name, mismatches(deq.shape, c.shape, 'dequantize shape'));
  if (c.op === 'quantize_per_tensor') {
    report.same(c.name, 'qscheme', q.qscheme(), 'per_tensor_affine');
    report.same(c.name, 'q_scale', q.qScale(), decodeFloat(c.q_scale));
    report.same(c.name, 'q_zero_point', q.qZeroPoint(), c.q_zero_point);
  } else {
    report.same(c.name, 'qscheme', q.qscheme(), 'per_channel_affine');
    report.add(c.name, mismatches(q.qPerChannelScales(), decodeFloats(c.q_per_channel_scales), 'q_per_channel_scales'));
    report.add(c.name, mismatches(q.qPerChannelZeroPoints(), c.q_per_channel_zero_points, 'q_per_channel_zero_points'));
    report.same(c.name, 'q_per_channel_axis', q.qPerChannelAxis(), c.axis);
  }
}

function inputOf(c: QuantizePerTensorCase | QuantizePerChannelCase): Tensor {
  return tensor(decodeFloat32s(c.input, `${c.name}.input`), c.shape);
}

function intReprOf(c: DequantizePerTensorCase | DequantizePerChannelCase): QTensor {
  return c.op === 'dequantize_per_tensor'
    ? fromIntRepr(c.int_repr, c.shape, c.dtype, { scale: decodeFloat(c.scale), zeroPoint: c.zero_point })
    : fromIntRepr(c.int_repr, c.shape, c.dtype, { scales: decodeFloats(c.scales), zeroPoints: c.zero_points, axis: c.axis });
}

describe(`PyTorch fixture (torch ${fixture.torch}, engine ${fixture.engine})`, () => {
  it('holds cases of every op kind and nothing else', () => {
    expect(fixture.generator).toBe('test/fixtures/generate_torch_fixtures.py');
    const counts: Record<string, number> = {};
    for (const c of cases) counts[c.op] = (counts[c.op] ?? 0) + 1;
    // The counts of the committed file; a truncated or regenerated-but-shrunk fixture fails here.
    expect(counts).toEqual({
      quantize_per_tensor: 130, quantize_per_channel: 81, dequantize_per_tensor: 35, dequantize_per_channel: 35,
    });
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
    for (const c of cases) {
      const size = c.shape.reduce((a, b) => a * b, 1);
      expect(c.int_repr.length, c.name).toBe(size);
      expect(c.dequantize.length, c.name).toBe(size);
    }
  });

  it('covers the edge cases the reference must get right', () => {
    const names = cases.map((c) => c.name);
    const has = (pattern: RegExp) => expect(names.some((n) => pattern.test(n)), String(pattern)).toBe(true);
    has(/^nonfinite_NaN_/);
    has(/^signed_zero_/);
    has(/^zp_16777217_x0_qint32$/);
    has(/^saturate_/);
    has(/^deq_qint32_edges_/);
    has(/^random_normal_per_channel_/);
  });

  it(`reference.quantizePerTensor matches torch.quantize_per_tensor in all ${quantizePerTensorCases.length} cases`, () => {
    const report = new Report();
    for (const c of quantizePerTensorCases) {
      const q = reference.quantizePerTensor(inputOf(c), decodeFloat(c.scale), c.zero_point, c.dtype);
      checkQuantized(report, c, q, reference.dequantize(q));
      report.checked++;
    }
    report.finish(quantizePerTensorCases.length);
  });

  it(`reference.quantizePerChannel matches torch.quantize_per_channel in all ${quantizePerChannelCases.length} cases`, () => {
    const report = new Report();
    for (const c of quantizePerChannelCases) {
      const q = reference.quantizePerChannel(inputOf(c), decodeFloats(c.scales), c.zero_points, c.axis, c.dtype);
      checkQuantized(report, c, q, reference.dequantize(q));
      report.checked++;
    }
    report.finish(quantizePerChannelCases.length);
  });

  it(`per-channel cases also match with the axis given as a negative number`, () => {
    const report = new Report();
    for (const c of quantizePerChannelCases) {
      const q = reference.quantizePerChannel(inputOf(c), decodeFloats(c.scales), c.zero_points, c.axis - c.shape.length, c.dtype);
      checkQuantized(report, c, q, reference.dequantize(q));
      report.checked++;
    }
    report.finish(quantizePerChannelCases.length);
  });

  for (const [op, list] of [
    ['dequantize_per_tensor', dequantizePerTensorCases], ['dequantize_per_channel', dequantizePerChannelCases],
  ] as const) {
    it(`fromIntRepr + reference.dequantize match torch ${op} in all ${list.length} cases`, () => {
      const report = new Report();
      for (const c of list) {
        const q = intReprOf(c);
        report.add(c.name, mismatches(q.intRepr(), c.int_repr, 'int_repr round trip'));
        report.same(c.name, 'dtype', q.dtype, c.dtype);
        const deq = reference.dequantize(q);
        report.add(c.name, mismatches(deq.data, decodeFloat32s(c.dequantize, 'dequantize'), 'dequantize', true));
        report.add(c.name, mismatches(deq.shape, c.shape, 'dequantize shape'));
        report.same(c.name, 'backend', deq.backend, 'cpu');
        report.checked++;
      }
      report.finish(list.length);
    });
  }

  it('the quantized tensors\' own int_repr also dequantizes like torch through fromIntRepr', () => {
    // Quantize cases carry torch's dequantize of torch's int_repr: rebuilding the tensor from the integers
    // must give the same floats as dequantizing the tensor quantize made.
    const report = new Report();
    for (const c of [...quantizePerTensorCases, ...quantizePerChannelCases]) {
      const q = c.op === 'quantize_per_tensor'
        ? fromIntRepr(c.int_repr, c.shape, c.dtype, { scale: decodeFloat(c.scale), zeroPoint: c.zero_point })
        : fromIntRepr(c.int_repr, c.shape, c.dtype, { scales: decodeFloats(c.scales), zeroPoints: c.zero_points, axis: c.axis });
      report.add(c.name, mismatches(reference.dequantize(q).data, decodeFloat32s(c.dequantize, 'dequantize'), 'dequantize', true));
      report.checked++;
    }
    report.finish(quantizePerTensorCases.length + quantizePerChannelCases.length);
  });

  it('the public async API with { backend: "cpu" } matches torch in every case', async () => {
    const report = new Report();
    const cpu = { backend: 'cpu' } as const;
    for (const c of cases) {
      if (c.op === 'quantize_per_tensor' || c.op === 'quantize_per_channel') {
        const q = c.op === 'quantize_per_tensor'
          ? await quantizePerTensor(inputOf(c), decodeFloat(c.scale), c.zero_point, c.dtype, cpu)
          : await quantizePerChannel(inputOf(c), decodeFloats(c.scales), c.zero_points, c.axis, c.dtype, cpu);
        report.same(c.name, 'quantize backend', q.backend, 'cpu');
        const deq = await dequantize(q, cpu);
        report.same(c.name, 'dequantize backend', deq.backend, 'cpu');
        checkQuantized(report, c, q, deq);
      } else {
        const deq = await dequantize(intReprOf(c), cpu);
        report.same(c.name, 'dequantize backend', deq.backend, 'cpu');
        report.add(c.name, mismatches(deq.data, decodeFloat32s(c.dequantize, 'dequantize'), 'dequantize', true));
      }
      report.checked++;
    }
    report.finish(cases.length);
  });
});
