// Property tests of the CPU reference on seeded random data: fixed seeds, plus one fresh seed per run
// (in the test names, so a failure can be replayed by adding it to kSeeds).
import { describe, expect, it } from 'vitest';
import { type QDType, QDTYPES, dtypeInfo, fromIntRepr, reference, tensor } from '../../src/index.js';
import { RUN_SEED, expectBits, expectExact, mismatches, normalData, rng } from './support.js';

const kSeeds = [1, 7, 42, 20240601, RUN_SEED];
const f = Math.fround;

/** An independent round-half-even: Math.round rounds ties up, so fix the ties that land on an odd number. */
function rint(p: number): number {
  const r = Math.round(p);
  return r - p === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** An independent per-element quantize, written differently from the reference's. */
function oracle(x: number, scale: number, zeroPoint: number, dtype: QDType): number {
  const { qmin, qmax } = dtypeInfo(dtype);
  if (Number.isNaN(x)) return qmin;
  const t = f(f(zeroPoint) + rint(f(x * f(1 / f(scale)))));
  return Math.min(qmax, Math.max(qmin, t));
}

/** A float32 scale in [1e-4, 10), log-uniform, and a zero point in the dtype's range (small for qint32). */
function randomParams(next: () => number, dtype: QDType): { scale: number; zeroPoint: number } {
  const { qmin, qmax } = dtypeInfo(dtype);
  const scale = f(10 ** (-4 + 5 * next()));
  const lo = dtype === 'qint32' ? -1000 : qmin;
  const hi = dtype === 'qint32' ? 1000 : qmax;
  return { scale, zeroPoint: lo + Math.floor(next() * (hi - lo + 1)) };
}

function randomShape(next: () => number): number[] {
  const rank = 1 + Math.floor(next() * 4);
  return Array.from({ length: rank }, () => 1 + Math.floor(next() * 6));
}

for (const seed of kSeeds) {
  describe(`seed ${seed}${seed === RUN_SEED ? ' (fresh this run)' : ''}`, () => {
    for (const dtype of QDTYPES) {
      it(`${dtype}: quantizePerTensor agrees with an independent formula on data with ties, ±0, NaN, ±Infinity`, () => {
        const next = rng(seed);
        const { scale, zeroPoint } = randomParams(next, dtype);
        const data = normalData(1000, next, scale * 100);
        // Exact ties k + 0.5 (times a power-of-two scale, so x * inv is the tie exactly) and specials.
        const tieScale = 2 ** Math.round(Math.log2(scale));
        for (let i = 0; i < 200; i++) data[5 * i] = (Math.floor(next() * 400) - 200 + 0.5) * tieScale;
        data.set([0, -0, NaN, Infinity, -Infinity, 3e38, -3e38], 993);
        const x = tensor(data);
        for (const s of [scale, tieScale]) {
          const q = reference.quantizePerTensor(x, s, zeroPoint, dtype);
          expectExact(q.intRepr(), Array.from(data, (v) => oracle(v, s, zeroPoint, dtype)), `scale ${s}, zp ${zeroPoint}`);
        }
      });

      it(`${dtype}: quantize then dequantize is within scale / 2 inside the range, saturates outside`, () => {
        const next = rng(seed ^ 0x5bd1e995);
        const { qmin, qmax } = dtypeInfo(dtype);
        const { scale, zeroPoint } = randomParams(next, dtype);
        const data = normalData(2000, next, scale * (dtype === 'qint32' ? 1e4 : 80));
        const q = reference.quantizePerTensor(tensor(data), scale, zeroPoint, dtype);
        const ints = q.intRepr();
        const deq = reference.dequantize(q).data;
        const problems: string[] = [];
        for (let i = 0; i < data.length; i++) {
          const x = data[i]!;
          const real = x / scale + zeroPoint; // where x lies on the integer grid
          if (real > qmin + 1 && real < qmax - 1) {
            // Tolerance beyond scale / 2: x * fround(1 / scale) and the float32 dequantize product each round
            // once (relative 2^-24), so allow a few float32 ulps of |x| and of the half-step.
            const bound = scale / 2 + (Math.abs(x) + scale) * 2 ** -21;
            if (Math.abs(deq[i]! - x) > bound) problems.push(`[${i}] x ${x}: q ${ints[i]}, dequantized ${deq[i]}, error > ${bound}`);
          } else if (real <= qmin - 1 && ints[i] !== qmin) {
            problems.push(`[${i}] x ${x} is below the range: q ${ints[i]}, expected ${qmin}`);
          } else if (real >= qmax + 1 && ints[i] !== qmax) {
            problems.push(`[${i}] x ${x} is above the range: q ${ints[i]}, expected ${qmax}`);
          }
        }
        const text = problems.slice(0, 10).join('\n');
        expect(problems.length, `scale ${scale}, zp ${zeroPoint}: ${problems.length} problems\n${text}`).toBe(0);
      });

      it(`${dtype}: quantize is monotone in x`, () => {
        const next = rng(seed + 3);
        const { scale, zeroPoint } = randomParams(next, dtype);
        const data = normalData(3000, next, scale * 200).sort();
        const ints = reference.quantizePerTensor(tensor(data), scale, zeroPoint, dtype).intRepr();
        let firstDrop = -1;
        for (let i = 1; i < ints.length && firstDrop < 0; i++) if (ints[i]! < ints[i - 1]!) firstDrop = i;
        expect(firstDrop, firstDrop < 0 ? '' : `x ${data[firstDrop - 1]} -> ${ints[firstDrop - 1]}, x ${data[firstDrop]} -> ${ints[firstDrop]}`)
          .toBe(-1);
      });

      it(`${dtype}: quantize(dequantize(q)) gives q back`, () => {
        const next = rng(seed + 4);
        const { qmin, qmax } = dtypeInfo(dtype);
        const { scale, zeroPoint } = randomParams(next, dtype);
        // For qint32, stay within 2^20 steps of the zero point: there the float32 grid is fine enough for
        // x * fround(1 / scale) to land within 1/2 of the integer it came from.
        const lo = dtype === 'qint32' ? zeroPoint - 2 ** 20 : qmin;
        const hi = dtype === 'qint32' ? zeroPoint + 2 ** 20 : qmax;
        const ints = Array.from({ length: 1500 }, () => lo + Math.floor(next() * (hi - lo + 1)));
        const q = fromIntRepr(ints, [ints.length], dtype, { scale, zeroPoint });
        const again = reference.quantizePerTensor(reference.dequantize(q), scale, zeroPoint, dtype);
        expectExact(again.intRepr(), ints, `scale ${scale}, zp ${zeroPoint}`);
      });
    }

    it('per channel equals per tensor applied channel by channel, on random shapes and every axis', () => {
      const next = rng(seed + 5);
      for (let trial = 0; trial < 12; trial++) {
        const dtype = QDTYPES[trial % 3]!;
        const shape = randomShape(next);
        const axis = Math.floor(next() * shape.length);
        const size = shape.reduce((a, b) => a * b, 1);
        const channels = shape[axis]!;
        const params = Array.from({ length: channels }, () => randomParams(next, dtype));
        // Scales that are not float32 values (0.1-like), as users pass them: rounded to float32 first.
        params.forEach((p, c) => { if (c % 2) p.scale = p.scale * (1 + 1e-9); });
        const data = normalData(size, next, 3);
        const x = tensor(data, shape);
        const useNegativeAxis = trial % 2 === 1;
        const q = reference.quantizePerChannel(x, params.map((p) => p.scale), params.map((p) => p.zeroPoint),
          useNegativeAxis ? axis - shape.length : axis, dtype);
        let inner = 1;
        for (let d = axis + 1; d < shape.length; d++) inner *= shape[d]!;
        const expectedInts: number[] = [];
        const expectedFloats = new Float32Array(size);
        for (let i = 0; i < size; i++) {
          const { scale, zeroPoint } = params[Math.floor(i / inner) % channels]!;
          const single = reference.quantizePerTensor(tensor([data[i]!]), scale, zeroPoint, dtype);
          expectedInts.push(single.intRepr()[0]!);
          // Per channel dequantizes with the float64 scale, differences in float32.
          expectedFloats[i] = f(f(f(expectedInts[i]!) - f(zeroPoint)) * scale);
        }
        const what = `trial ${trial}: ${dtype}, shape [${shape.join(', ')}], axis ${axis}`;
        expect(q.qPerChannelAxis(), what).toBe(axis);
        expectExact(q.intRepr(), expectedInts, what);
        expectBits(reference.dequantize(q).data, expectedFloats, what);
      }
    });

    it('per channel with one float32 scale everywhere dequantizes bit for bit like per tensor', () => {
      const next = rng(seed + 6);
      for (const dtype of ['qint8', 'quint8'] as const) {
        const { scale, zeroPoint } = randomParams(next, dtype);
        const data = normalData(4 * 25, next, scale * 60);
        const x = tensor(data, [4, 25]);
        const perTensor = reference.quantizePerTensor(x, scale, zeroPoint, dtype);
        const perChannel = reference.quantizePerChannel(x, [scale, scale, scale, scale], new Array(4).fill(zeroPoint), 0, dtype);
        expectExact(perChannel.intRepr(), perTensor.intRepr(), `${dtype} intRepr`);
        const text = mismatches(reference.dequantize(perChannel).data, reference.dequantize(perTensor).data, `${dtype} dequantize`, true);
        expect(text, text).toBe('');
      }
    });
  });
}
