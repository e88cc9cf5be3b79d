// The plumbing limit of a GPU call that reads `inputBytes` from JS and returns `outputBytes` to JS, done the
// way the library does it but with no work of its own: pooled buffers (the library's pool), writeBuffer of
// the input, one pass that reads the input and writes the output's bytes (bench/plumbing-vec4.wgsl), a copy
// to a pooled staging buffer, mapAsync, and a copy into a fresh JS array. A public call's end-to-end time
// divided by this is what the library adds on top of moving its bytes.
import { getDefaultManager } from 'webgpu-quant';
import { WORKGROUP_SIZE, dispatchSize } from 'webgpu-quant/internals';
import plumbingSource from './plumbing-vec4.wgsl?raw';

const pipelines = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();

function plumbingPipeline(device: GPUDevice, reads: number, writes: number): GPUComputePipeline {
  let byShape = pipelines.get(device);
  if (!byShape) pipelines.set(device, byShape = new Map());
  const key = `${reads}x${writes}`;
  let pipeline = byShape.get(key);
  if (!pipeline) {
    const module = device.createShaderModule({ label: 'bench.plumbing.module', code: plumbingSource });
    pipeline = device.createComputePipeline({
      label: `bench.plumbing.${key}.pipeline`, layout: 'auto',
      compute: { module, entryPoint: 'plumb', constants: { WORKGROUP_SIZE, VECS_PER_INVOCATION: 16, READS: reads, WRITES: writes } },
    });
    byShape.set(key, pipeline);
  }
  return pipeline;
}

/** One call's worth of plumbing: JS array in, JS array out. */
export async function plumbOnce(input: Uint8Array, outputBytes: number): Promise<Uint8Array> {
  const manager = await getDefaultManager();
  const { device, pool } = manager;
  const reads = Math.max(1, input.byteLength / outputBytes);
  const writes = Math.max(1, outputBytes / input.byteLength);
  const pipeline = plumbingPipeline(device, reads, writes);
  const source = pool.acquire(input.byteLength, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, 'bench.plumbing.input');
  const destination = pool.acquire(outputBytes, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC, 'bench.plumbing.output');
  const staging = pool.acquire(outputBytes, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'bench.plumbing.staging');
  try {
    device.queue.writeBuffer(source, 0, input as Uint8Array<ArrayBuffer>);
    const encoder = device.createCommandEncoder({ label: 'bench.plumbing.encoder' });
    const pass = encoder.beginComputePass({ label: 'bench.plumbing.pass' });
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, device.createBindGroup({
      label: 'bench.plumbing.bindGroup', layout: pipeline.getBindGroupLayout(0),
      entries: [{ binding: 0, resource: { buffer: source, size: input.byteLength } }, { binding: 1, resource: { buffer: destination, size: outputBytes } }],
    }));
    const steps = outputBytes / 16 / writes;
    const grid = dispatchSize(Math.ceil(steps / 16), WORKGROUP_SIZE, device.limits.maxComputeWorkgroupsPerDimension);
    pass.dispatchWorkgroups(grid.x, grid.y);
    pass.end();
    encoder.copyBufferToBuffer(destination, 0, staging, 0, outputBytes);
    device.queue.submit([encoder.finish({ label: 'bench.plumbing.commands' })]);
  } finally {
    pool.release(source);
    pool.release(destination);
  }
  try {
    await staging.mapAsync(GPUMapMode.READ, 0, outputBytes);
    const result = new Uint8Array(outputBytes);
    result.set(new Uint8Array(staging.getMappedRange(0, outputBytes)));
    staging.unmap();
    return result;
  } finally {
    pool.release(staging);
  }
}

/** The plumbing limit for `inputBytes` in and `outputBytes` out (multiples of 16, one a multiple of the other): ms per call after one warm-up. */
export async function runPlumbing(c: { inputBytes: number; outputBytes: number; reps: number }): Promise<{ ms: number[] }> {
  const input = new Uint8Array(c.inputBytes);
  for (let i = 0; i < input.length; i += 4096) input[i] = i & 0xff;
  await plumbOnce(input, c.outputBytes);
  const ms: number[] = [];
  for (let i = 0; i < c.reps; i++) {
    const t0 = performance.now();
    await plumbOnce(input, c.outputBytes);
    ms.push(performance.now() - t0);
  }
  return { ms };
}
