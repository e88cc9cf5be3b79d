/**
 * Which axis of a weight holds the output channels of the operator that consumes it, per ONNX operator
 * and input position: the axis per-channel quantization should run along. Operators of the default ONNX
 * domain only; anything else is unknown.
 *
 * | consumer (input)                     | weight layout                  | role |
 * | ---                                  | ---                            | --- |
 * | Conv W (1)                           | `[out, in/g, k…]`              | axis 0 |
 * | ConvTranspose W (1)                  | `[in, out/g, k…]`              | axis 1 |
 * | Gemm B (1)                           | `[N, K]` transB, else `[K, N]` | axis 0 if transB else 1 |
 * | Gemm A (0)                           | `[K, M]` transA, else `[M, K]` | axis 1 if transA else 0 |
 * | MatMul B (1)                         | `[…, in, out]`                 | last axis |
 * | MatMul A (0)                         | `[…, M, K]`                    | axis rank − 2 (output rows) |
 * | LSTM / GRU / RNN W (1), R (2)        | `[dirs, gates·hidden, in]`     | axis 1 (axis 0 has size 1: per tensor in disguise) |
 * | Gather data (0)                      | `[vocab, dim]` (embeddings)    | the Gather `axis` (default 0): one scale per row |
 * | Conv / ConvTranspose B (2), Gemm C (2), LSTM / GRU / RNN B (3) | bias         | keep float |
 * | LSTM / GRU / RNN initial_h, initial_c, P (5–7) | state, peepholes     | keep float |
 * | graph output                         |                                | keep float (the value is visible to the caller) |
 * | any other operator or input          |                                | per tensor (no known channel axis) |
 *
 * @example
 * ```ts
 * consumerRole({ opType: 'Gemm', inputIndex: 1, attributes: { transB: 1 } }, 2); // { kind: 'channel', axis: 0, why: 'Gemm B (transB)' }
 * consumerRole({ opType: 'Conv', inputIndex: 2 }, 1);                            // { kind: 'keep', why: 'Conv bias (input 2)' }
 * ```
 * @module
 */

/** One use of a weight, as the policy sees it (the ONNX reader's `OnnxConsumer` fits). */
export interface PolicyConsumer {
  opType: string;
  /** Operator domain; '' (or 'ai.onnx') is the default ONNX domain. */
  domain?: string;
  /** Input position; -1 for a graph output. */
  inputIndex: number;
  attributes?: Readonly<Record<string, unknown>>;
}

/** What a consumer asks of a weight. */
export type ConsumerRole =
  | { kind: 'channel'; axis: number; why: string }
  | { kind: 'tensor'; why: string }
  | { kind: 'keep'; why: string };

const kRecurrent = new Set(['LSTM', 'GRU', 'RNN']);

function intAttribute(consumer: PolicyConsumer, name: string, fallback: number): number {
  const value = consumer.attributes?.[name];
  return typeof value === 'number' && Number.isInteger(value) ? value : fallback;
}

/**
 * The role of a weight of rank `rank` for one consumer (see the module table). Axes come back
 * non-negative; an axis outside the weight's rank makes the role per tensor.
 *
 * @example
 * ```ts
 * consumerRole({ opType: 'LSTM', inputIndex: 1 }, 3);   // { kind: 'channel', axis: 1, why: 'LSTM W (input 1)' }
 * consumerRole({ opType: 'MatMul', inputIndex: 1 }, 2); // { kind: 'channel', axis: 1, why: 'MatMul B (input 1)' }
 * consumerRole({ opType: 'Add', inputIndex: 0 }, 2);    // { kind: 'tensor', why: 'Add input 0 has no channel axis' }
 * ```
 */
export function consumerRole(consumer: PolicyConsumer, rank: number): ConsumerRole {
  const { opType, inputIndex } = consumer;
  if (inputIndex < 0) return { kind: 'keep', why: 'a graph output' };
  const domain = consumer.domain ?? '';
  if (domain !== '' && domain !== 'ai.onnx') return { kind: 'tensor', why: `${domain}.${opType} is not an ONNX operator the policy knows` };
  const channel = (axis: number, why: string): ConsumerRole => {
    const normalized = axis < 0 ? axis + rank : axis;
    if (normalized < 0 || normalized >= rank) return { kind: 'tensor', why: `${why}: axis ${axis} does not fit rank ${rank}` };
    return { kind: 'channel', axis: normalized, why };
  };
  switch (opType) {
    case 'Conv':
      if (inputIndex === 1) return channel(0, 'Conv W (input 1)');
      if (inputIndex === 2) return { kind: 'keep', why: 'Conv bias (input 2)' };
      break;
    case 'ConvTranspose':
      if (inputIndex === 1) return channel(1, 'ConvTranspose W (input 1)');
      if (inputIndex === 2) return { kind: 'keep', why: 'ConvTranspose bias (input 2)' };
      break;
    case 'Gemm': {
      if (inputIndex === 1) {
        const transB = intAttribute(consumer, 'transB', 0) !== 0;
        return channel(transB ? 0 : 1, `Gemm B${transB ? ' (transB)' : ''}`);
      }
      if (inputIndex === 0) {
        const transA = intAttribute(consumer, 'transA', 0) !== 0;
        return channel(transA ? 1 : 0, `Gemm A${transA ? ' (transA)' : ''}`);
      }
      if (inputIndex === 2) return { kind: 'keep', why: 'Gemm C (bias, input 2)' };
      break;
    }
    case 'MatMul':
      if (inputIndex === 1) return channel(rank - 1, 'MatMul B (input 1)');
      if (inputIndex === 0) return channel(rank - 2, 'MatMul A (input 0)');
      break;
    case 'Gather':
      if (inputIndex === 0) return channel(intAttribute(consumer, 'axis', 0), 'Gather data (embedding rows)');
      break;
    default:
      if (kRecurrent.has(opType)) {
        if (inputIndex === 1 || inputIndex === 2) return channel(1, `${opType} ${inputIndex === 1 ? 'W' : 'R'} (input ${inputIndex})`);
        if (inputIndex === 3) return { kind: 'keep', why: `${opType} B (bias, input 3)` };
        if (inputIndex >= 5) return { kind: 'keep', why: `${opType} initial state or peepholes (input ${inputIndex})` };
      }
  }
  return { kind: 'tensor', why: `${opType} input ${inputIndex} has no channel axis` };
}

/**
 * Combines the roles of every consumer of one weight: any 'keep' wins; consumers that agree on an axis
 * give that axis; disagreeing consumers, or any per-tensor one, give per tensor.
 *
 * @example
 * ```ts
 * combineRoles([{ kind: 'channel', axis: 0, why: 'Conv W (input 1)' }, { kind: 'channel', axis: 1, why: 'MatMul B (input 1)' }]);
 * // { kind: 'tensor', why: 'shared by consumers that disagree: Conv W (input 1) axis 0, MatMul B (input 1) axis 1' }
 * ```
 */
export function combineRoles(roles: readonly ConsumerRole[]): ConsumerRole {
  if (roles.length === 0) return { kind: 'keep', why: 'no consumer in the graph' };
  const keep = roles.find((r) => r.kind === 'keep');
  if (keep) return keep;
  const perTensor = roles.find((r) => r.kind === 'tensor');
  if (perTensor) return perTensor;
  const channels = roles as Array<{ kind: 'channel'; axis: number; why: string }>;
  if (channels.every((r) => r.axis === channels[0]!.axis)) return channels[0]!;
  const list = [...new Set(channels.map((r) => `${r.why} axis ${r.axis}`))].join(', ');
  return { kind: 'tensor', why: `shared by consumers that disagree: ${list}` };
}
