// How many weights a compressor keeps in flight on a worker pool (poolTasksInFlight): one per worker, one more
// queued only on a host with a core beyond the workers'. compressToSafetensors and compressToGguf hold exactly that
// many tasks at once on a pool whose host has no core to spare, and one more on a host that has; the same bytes
// whatever the count.
import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { compressToGguf } from '../../src/compress/compress-gguf.js';
import { compressToSafetensors } from '../../src/compress/compress-safetensors.js';
import { type CpuWorkerPool, poolTasksInFlight } from '../../src/compress/cpu-worker-pool.js';
import { decideWeights } from '../../src/compress/policy.js';
import { bytesSource, memorySink, openSafetensors, serializeSafetensors } from '../../src/io/safetensors/index.js';
import { useCpuWorkerPool } from '../shared/cpu-worker-pool-fixture.js';
import { RUN_SEED, normalData, rng } from './support.js';

const fixture = useCpuWorkerPool(2);

/** The fixture's pool as if its host had `cores` cores, counting the most tasks it held at once. */
function poolOnCores(cores: number | undefined): CpuWorkerPool & { most: number } {
  const inner = fixture.pool;
  let running = 0;
  const out = { ...inner, cores, most: 0 };
  out.run = ((...args: Parameters<CpuWorkerPool['run']>) => {
    out.most = Math.max(out.most, ++running);
    return inner.run(...args).finally(() => running--);
  }) as CpuWorkerPool['run'];
  return out;
}

describe('poolTasksInFlight', () => {
  it('is one per worker, and one more where the host has a core to spare; one without a pool', () => {
    const pool = (size: number, cores?: number) => ({ size, cores }) as unknown as CpuWorkerPool;
    expect(poolTasksInFlight(undefined)).toBe(1);
    expect(poolTasksInFlight(pool(2, 2))).toBe(2);
    expect(poolTasksInFlight(pool(2, 1))).toBe(2);
    expect(poolTasksInFlight(pool(2, 3))).toBe(3);
    expect(poolTasksInFlight(pool(8, 16))).toBe(9);
    expect(poolTasksInFlight(pool(4))).toBe(5); // a pool of one's own, its host not known
    expect(fixture.pool.cores).toBe(availableParallelism());
  });

  it('bounds the tasks safetensors and GGUF output hold on the pool', { timeout: 60000 }, async () => {
    const next = rng(RUN_SEED + 31);
    const tensors = Array.from({ length: 8 }, (_, i) => ({ name: `w${i}.weight`, dtype: 'F32' as const, shape: [256, 512], data: normalData(256 * 512, next) }));
    const reader = await openSafetensors(bytesSource(await serializeSafetensors(tensors)));
    const decisions = decideWeights(reader.list(), { dtype: 'qint8' });
    const blocks = decideWeights(reader.list(), { dtype: 'qint8', granularity: 'group', groupSize: 32, symmetric: true });
    const outputs = new Map<string, Uint8Array>();
    for (const [cores, expected] of [[2, 2], [4, 3]] as const) {
      const st = poolOnCores(cores);
      const stSink = memorySink();
      await compressToSafetensors(reader, decisions, stSink, { backend: 'cpu' }, undefined, { pool: st });
      const gguf = poolOnCores(cores);
      const ggufSink = memorySink();
      await compressToGguf(reader, blocks, ggufSink, { name: 'w', pool: gguf });
      expect([st.most, gguf.most], `${cores} cores`).toEqual([expected, expected]);
      for (const [name, bytes] of [['safetensors', stSink.bytes()], ['gguf', ggufSink.bytes()]] as const) {
        if (outputs.has(name)) expect(Buffer.compare(bytes, outputs.get(name)!), name).toBe(0);
        else outputs.set(name, bytes);
      }
    }
  });
});
