// ONNX external data from the command line: read from files next to the model, never from outside its
// folder (no "..", no absolute path, no symbolic link that leads out), and never written out as a model
// that would point at data files it cannot find.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { OnnxModel } from '../../src/io/onnx/onnx-model.js';
import { readQdqWeights } from '../../src/io/onnx/qdq-read.js';
import { openSafetensorsFile } from '../../src/io/safetensors/node-open.js';
import { readQuantizedSafetensors } from '../../src/io/safetensors/quantized-read.js';
import { runCli, tinyOnnx, tinyWeights } from './cli-support.js';

const root = mkdtempSync(join(tmpdir(), 'webgpu-quant-cli-ext-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const cpu = ['--backend', 'cpu'];
let serial = 0;

/** models/m.onnx with w (64 x 64) and b (64) both stored in `location` (w at 0, b after it). */
function externalModel(location = 'weights.bin'): { dir: string; model: string; w: Float32Array; b: Float32Array; data: Uint8Array } {
  const dir = join(root, `case-${serial++}`, 'models');
  mkdirSync(dir, { recursive: true });
  const { w, b } = tinyWeights();
  const data = new Uint8Array(w.byteLength + b.byteLength);
  data.set(new Uint8Array(w.buffer), 0);
  data.set(new Uint8Array(b.buffer), w.byteLength);
  writeFileSync(join(dir, 'm.onnx'), tinyOnnx([
    { name: 'w', dims: [64, 64], data: w, external: { location, offset: 0 } },
    { name: 'b', dims: [64], data: b, external: { location, offset: w.byteLength } },
  ]));
  return { dir, model: join(dir, 'm.onnx'), w, b, data };
}

describe('ONNX external data next to the model', () => {
  it('compresses into the model\'s folder: w quantized inline, b still read from the data file', async () => {
    const { dir, model, b, data } = externalModel();
    writeFileSync(join(dir, 'weights.bin'), data);
    const out = join(dir, 'm.q8.onnx');
    const result = await runCli(['compress', model, '-o', out, ...cpu]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const compressed = await OnnxModel.load(readFileSync(out), { externalData: (location) => (location === 'weights.bin' ? data : undefined) });
    const q = (await readQdqWeights(compressed)).get('w')!;
    expect(q.dtype).toBe('qint8');
    expect(compressed.info('b').external?.location).toBe('weights.bin');
    expect(await compressed.readFloat32('b')).toEqual(b);
  });

  it('to safetensors anywhere: every weight is copied out of the data file', async () => {
    const { dir, model, b, data } = externalModel();
    writeFileSync(join(dir, 'weights.bin'), data);
    const out = join(dir, '..', 'm.q8.safetensors');
    expect((await runCli(['compress', model, '-o', out, ...cpu])).code).toBe(0);
    const reader = await openSafetensorsFile(out);
    try {
      const { quantized } = await readQuantizedSafetensors(reader);
      expect([...quantized.keys()]).toEqual(['w']);
      expect(new Float32Array((await reader.read('b')).slice().buffer)).toEqual(b);
    } finally {
      await reader.close();
    }
  });

  it('refuses an ONNX output on stdout that would point at data it cannot carry (a file in another folder gets its own data file)', async () => {
    const { dir, model, data } = externalModel();
    writeFileSync(join(dir, 'weights.bin'), data);
    const out = '<stdout>';
    const result = await runCli(['compress', model, '-o', '-', ...cpu]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(`webgpu-quant: ${out}: 1 weight stays float in external data (e.g. "b" in "weights.bin"), which the output `
      + `refers to relative to its own folder; write the output into the model's folder ${dir}, or write --format safetensors\n`);
  });

  it('the output may not be the external data file itself', async () => {
    const { dir, model, data } = externalModel();
    writeFileSync(join(dir, 'weights.bin'), data);
    for (const format of ['onnx', 'safetensors']) {
      const result = await runCli(['compress', model, '-o', join(dir, 'weights.bin'), '--format', format, ...cpu]);
      expect(result.code, format).toBe(1);
      expect(result.stderr).toBe(`webgpu-quant: ${join(dir, 'weights.bin')}: is the input file ${join(dir, 'weights.bin')} itself; `
        + 'writing it would replace the original. Choose another output, or add --force to overwrite the input\n');
      expect(readFileSync(join(dir, 'weights.bin'))).toEqual(Buffer.from(data));
    }
  });

  it('inspect reads external data too', async () => {
    const { dir, model, data } = externalModel();
    writeFileSync(join(dir, 'weights.bin'), data);
    const out = join(dir, 'm.q4.onnx');
    expect((await runCli(['compress', model, '-o', out, '--dtype', 'int4', ...cpu])).code).toBe(0);
    const result = await runCli(['inspect', out, '--original', model, '--json']);
    expect(result.code).toBe(0);
    const w = JSON.parse(result.stdout).tensors.find((t: { name: string }) => t.name === 'w');
    expect(w.dtype).toBe('qint4');
    expect(w.sqnrDb).toBeGreaterThan(15); // int4 per channel on normal data: about 20 dB
  });

  it('a symbolic link inside the folder is followed; one leading out of it is refused', async () => {
    const inside = externalModel('alias.bin');
    writeFileSync(join(inside.dir, 'weights.bin'), inside.data);
    symlinkSync('weights.bin', join(inside.dir, 'alias.bin'));
    expect((await runCli(['compress', inside.model, '-o', join(inside.dir, 'q.onnx'), ...cpu])).code).toBe(0);

    const outside = externalModel('escape.bin');
    writeFileSync(join(outside.dir, '..', 'secret.bin'), outside.data);
    symlinkSync(join(outside.dir, '..', 'secret.bin'), join(outside.dir, 'escape.bin'));
    const result = await runCli(['compress', outside.model, '-o', join(outside.dir, 'q.onnx'), ...cpu]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^webgpu-quant: .*m\.onnx: initializer "[wb]" in graph: external data file "escape\.bin" could not be opened \(it is a symbolic link to .*secret\.bin, outside the model's folder .*; copy the file next to the model\)\n$/);
  });

  it('".." and absolute locations are refused before anything is read', async () => {
    for (const location of ['../weights.bin', '/etc/passwd']) {
      const { dir, model, data } = externalModel(location);
      writeFileSync(join(dir, '..', 'weights.bin'), data);
      const result = await runCli(['compress', model, '-o', join(dir, 'q.onnx'), ...cpu]);
      expect(result.code, location).toBe(1);
      expect(result.stderr).toMatch(/is not a plain relative path inside the model's folder/);
    }
  });
});
