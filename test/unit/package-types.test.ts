// The published declarations compile in a user's project as strict as they come: skipLibCheck false, no
// ambient types of its own. A tiny consumer imports both entries ('webgpu-quant' and 'webgpu-quant/models')
// through the package's "exports" and is typechecked against dist/*.d.ts (built by `npm run build`, which
// `npm test` runs first). It fails when a declaration needs a type the package does not bring (WebGPU's,
// onnx-proto's `Long`, ...), or when "exports" stops pointing at them.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'webgpu-quant-consumer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const kConsumer = `import { type QTensor, type CalibrationResult, chooseQParams, dequantize, quantizePerTensor, tensor } from 'webgpu-quant';
import { OnnxModel, bytesSource, compressOnnx, openSafetensors } from 'webgpu-quant/models';

export async function main(bytes: Uint8Array, device: GPUDevice): Promise<number> {
  const q: QTensor = await quantizePerTensor(tensor([1, 2, 3]), 0.5, 0, 'qint8', { device });
  const p: CalibrationResult = await chooseQParams(tensor([1, 2, 3]), { dtype: 'qint8' });
  const model = await OnnxModel.load(bytes);
  const { report } = await compressOnnx(bytes);
  const reader = await openSafetensors(bytesSource(bytes));
  // @ts-expect-error: the scale is a number (were the imports untyped, this line would be the error)
  await quantizePerTensor(tensor([1]), 'half', 0, 'qint8');
  return (await dequantize(q)).data.length + model.list().length + report.tensors.length + reader.list().length + (p.backend === 'cpu' ? 1 : 0);
}
`;

it('dist/*.d.ts typecheck in a consumer project with skipLibCheck false', () => {
  expect(existsSync(join(ROOT, 'dist/index.d.ts')) && existsSync(join(ROOT, 'dist/models.d.ts')),
    'dist/index.d.ts and dist/models.d.ts: run `npm run build` first').toBe(true);
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(ROOT, join(dir, 'node_modules', 'webgpu-quant'), 'dir');
  writeFileSync(join(dir, 'main.ts'), kConsumer);
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      target: 'ES2022', module: 'ESNext', moduleResolution: 'Bundler', lib: ['ES2022', 'DOM'], strict: true,
      skipLibCheck: false, noEmit: true, types: [],
    },
    files: ['main.ts'],
  }));
  let output = '';
  try {
    execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', dir], { encoding: 'utf8' });
  } catch (error) {
    output = String((error as { stdout?: string }).stdout ?? error);
  }
  expect(output).toBe('');
});
