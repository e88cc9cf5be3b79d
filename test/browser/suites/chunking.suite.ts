// Tensors larger than one chunk or one dispatch dimension: forced small chunk sizes (chunk boundaries
// falling inside channels and inside 4-element groups' neighbours) and a forced 2-D dispatch fold.
import { QDTYPES, dequantize, dtypeInfo, quantizePerChannel, quantizePerTensor, reference, tensor } from './imports.js';
import { type BrowserTest, RUN_SEED, expectExact, expectPoolEmpty, expectUlps, gpuScoped, randomData } from './support.js';

export const tests: Record<string, BrowserTest> = {
  async 'forced small chunks give the same bits, every scheme and dtype'() {
    await gpuScoped(async () => {
      for (const dtype of QDTYPES) {
        for (const maxChunkElements of [4, 8, 12, 100, 1000]) {
          const options = { backend: 'webgpu', maxChunkElements } as const;
          const x = tensor(randomData(1025, RUN_SEED + maxChunkElements, 40));
          const q = await quantizePerTensor(x, 0.5, 3, dtype, options);
          expectExact(q.intRepr(), reference.quantizePerTensor(x, 0.5, 3, dtype).intReprView(), `${dtype} chunk ${maxChunkElements}`);
          expectUlps((await dequantize(q, options)).data, reference.dequantize(q).data, 0, `${dtype} chunk ${maxChunkElements} dequantize`);
          for (const [shape, axis] of [[[7, 13, 3], 1], [[5, 41], 0], [[41, 5], 1]] as const) {
            const w = tensor(randomData(shape.reduce((a: number, b: number) => a * b, 1), RUN_SEED + axis, 40), [...shape]);
            const channels = shape[axis];
            const scales = Array.from({ length: channels }, (_, c) => Math.fround(0.25 + c / 8));
            const { qmin, qmax } = dtypeInfo(dtype);
            const zeroPoints = Array.from({ length: channels }, (_, c) => Math.min(qmax, Math.max(qmin, Math.round((qmin + qmax) / 2) + (c % 7) - 3)));
            const qc = await quantizePerChannel(w, scales, zeroPoints, axis, dtype, options);
            const expected = reference.quantizePerChannel(w, scales, zeroPoints, axis, dtype);
            expectExact(qc.intRepr(), expected.intReprView(), `${dtype} [${shape}] axis ${axis} chunk ${maxChunkElements}`);
            expectUlps((await dequantize(qc, options)).data, reference.dequantize(expected).data, 0, `${dtype} [${shape}] dequantize chunk ${maxChunkElements}`);
          }
        }
      }
    });
    await expectPoolEmpty();
    return `run seed ${RUN_SEED}`;
  },
  async 'dispatches past the per-dimension workgroup limit fold into 2-D'() {
    await gpuScoped(async () => {
      // 8-bit: 256 invocations x 16 vecs x 16 elements = 65536 elements per workgroup, so 300003 elements
      // need 5 groups: folded to 2 x 3 (limit 2) and 3 x 2 (limit 3); limit 1 cuts chunks of one group.
      const x = tensor(randomData(300003, RUN_SEED, 30));
      for (const maxWorkgroupsPerDimension of [1, 2, 3]) {
        const options = { backend: 'webgpu', maxWorkgroupsPerDimension } as const;
        const q = await quantizePerTensor(x, 0.25, 0, 'qint8', options);
        expectExact(q.intRepr(), reference.quantizePerTensor(x, 0.25, 0, 'qint8').intReprView(), `fold ${maxWorkgroupsPerDimension}`);
        const w = tensor(x.data, [3, 100001]);
        const qc = await quantizePerChannel(w, [0.25, 0.5, 1], [0, 1, 2], 0, 'qint8', options);
        expectExact(qc.intRepr(), reference.quantizePerChannel(w, [0.25, 0.5, 1], [0, 1, 2], 0, 'qint8').intReprView(), `per-channel fold ${maxWorkgroupsPerDimension}`);
        expectUlps((await dequantize(qc, options)).data, reference.dequantize(qc).data, 0, `dequantize fold ${maxWorkgroupsPerDimension}`);
      }
    });
    await expectPoolEmpty();
  },
};
