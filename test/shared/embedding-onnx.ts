// A token-embedding model as ONNX bytes, for the GatherBlockQuantized tests: ids [batch, seq] (int64) →
// Gather(embed.weight [1000, dim], axis) → MatMul proj.weight [dim, 48] → y. Weights are seeded normal values;
// every 7th row holds a large positive extreme (3), so 4-bit Q4_0 blocks with zero point -1 occur. The
// protobuf encoder is passed in, so Node tests (onnx-proto) and pages share the builder. With gatherAxis 1
// the table is stored transposed ([dim, 1000]) and gathered along axis 1.
import type { OnnxEncoder } from './mlp-onnx.js';
import { seededNormal } from './mlp-onnx.js';

export const EMBEDDING_VOCAB = 1000;
export const EMBEDDING_OUT = 48;

export function buildEmbeddingModel(onnx: OnnxEncoder, dim: number, seed: number, gatherAxis = 0): Uint8Array {
  const embed = seededNormal(EMBEDDING_VOCAB * dim, seed + 11, 0.5);
  for (let r = 0; r < EMBEDDING_VOCAB; r += 7) embed[r * dim + (r % dim)] = 3;
  const proj = seededNormal(dim * EMBEDDING_OUT, seed + 13, 1 / Math.sqrt(dim));
  const raw = (a: Float32Array) => new Uint8Array(a.buffer);
  const dims = gatherAxis === 0 ? [EMBEDDING_VOCAB, dim] : [dim, EMBEDDING_VOCAB];
  return onnx.ModelProto.encode({
    irVersion: 8, opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'embedding',
      initializer: [{ name: 'embed.weight', dataType: 1, dims, rawData: raw(embed) }, { name: 'proj.weight', dataType: 1, dims: [dim, EMBEDDING_OUT], rawData: raw(proj) }],
      node: gatherAxis === 0
        ? [{ opType: 'Gather', name: 'embed', input: ['embed.weight', 'ids'], output: ['h'], attribute: [{ name: 'axis', type: 2, i: 0 }] },
          { opType: 'MatMul', name: 'proj', input: ['h', 'proj.weight'], output: ['y'] }]
        : [{ opType: 'Gather', name: 'embed', input: ['embed.weight', 'ids'], output: ['hT'], attribute: [{ name: 'axis', type: 2, i: 1 }] },
          { opType: 'Transpose', name: 't', input: ['hT'], output: ['h'], attribute: [{ name: 'perm', type: 7, ints: [1, 2, 0] }] },
          { opType: 'MatMul', name: 'proj', input: ['h', 'proj.weight'], output: ['y'] }],
      input: [{ name: 'ids', type: { tensorType: { elemType: 7, shape: { dim: [{ dimParam: 'batch' }, { dimParam: 'seq' }] } } } }],
      output: [{ name: 'y', type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'batch' }, { dimParam: 'seq' }, { dimValue: EMBEDDING_OUT }] } } } }],
    },
  }).finish();
}
