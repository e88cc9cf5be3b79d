// Text rendered by headless Chromium (Debian's build, the fonts Debian ships: DejaVu, Liberation) on a
// canvas, handed back to Node as grey pixels: single lines at the recognizer's height (48 px) and small
// pages for the detector. One browser launch renders everything a test file needs, and the pixels are
// cached on disk (node_modules/.cache/webgpu-quant-tests/), keyed by the texts, fonts, sizes, the drawing
// code and the Chromium binary (path, size, date), so later runs skip the browser (delete the folder after
// changing the installed fonts).
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer from 'puppeteer-core';
import { CHROMIUM_ARGS, chromiumPath } from '../setup/chromium.js';

/** A grey image, row-major, 0 (black) to 255 (white). */
export interface GreyImage { width: number; height: number; pixels: Uint8Array }

/** One line of text to render, with its font (a CSS font family installed on the system). */
export interface TextLine { text: string; font: string }

/** A page: lines placed top to bottom at the given font sizes. */
export interface TextPage { width: number; height: number; lines: Array<TextLine & { size: number }> }

export const FONTS = ['DejaVu Sans', 'DejaVu Serif', 'DejaVu Sans Mono', 'Liberation Sans', 'Liberation Serif', 'Liberation Mono'] as const;

const kCacheDir = fileURLToPath(new URL('../../node_modules/.cache/webgpu-quant-tests/', import.meta.url));

interface EncodedImage { width: number; height: number; pixels: string }

/** Renders `lines` (48 px high, the text at 30 px, 8 px margins) and `pages`: from the cache, else in one Chromium. */
export async function renderText(lines: TextLine[], pages: TextPage[]): Promise<{ lines: GreyImage[]; pages: GreyImage[] }> {
  const chromium = chromiumPath();
  const { size, mtimeMs } = statSync(chromium);
  const key = createHash('sha256').update(JSON.stringify({ lines, pages, chromium, size, mtimeMs, draw: renderInChromium.toString() })).digest('hex');
  const file = join(kCacheDir, `rendered-${key.slice(0, 24)}.json`);
  let encoded: { lines: EncodedImage[]; pages: EncodedImage[] };
  try {
    encoded = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    encoded = await renderInChromium(chromium, lines, pages);
    mkdirSync(kCacheDir, { recursive: true });
    writeFileSync(`${file}.${process.pid}.tmp`, JSON.stringify(encoded));
    renameSync(`${file}.${process.pid}.tmp`, file); // whole or absent, even with test files rendering at once
  }
  const decode = (img: EncodedImage): GreyImage =>
    ({ width: img.width, height: img.height, pixels: new Uint8Array(Buffer.from(img.pixels, 'base64')) });
  return { lines: encoded.lines.map(decode), pages: encoded.pages.map(decode) };
}

async function renderInChromium(chromium: string, lines: TextLine[], pages: TextPage[]): Promise<{ lines: EncodedImage[]; pages: EncodedImage[] }> {
  const browser = await puppeteer.launch({ executablePath: chromium, headless: true, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    return await page.evaluate(async (lineSpecs: TextLine[], pageSpecs: TextPage[]) => {
      const grey = (canvas: HTMLCanvasElement) => {
        const rgba = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
        let s = '';
        for (let i = 0; i < rgba.length; i += 4) s += String.fromCharCode(Math.round(0.299 * rgba[i]! + 0.587 * rgba[i + 1]! + 0.114 * rgba[i + 2]!));
        return { width: canvas.width, height: canvas.height, pixels: btoa(s) };
      };
      // Make sure the system fonts are loaded before measuring.
      await Promise.all([...new Set([...lineSpecs.map((l) => l.font), ...pageSpecs.flatMap((p) => p.lines.map((l) => l.font))])]
        .map((f) => document.fonts.load(`30px "${f}"`)));
      const lines = lineSpecs.map(({ text, font }) => {
        const canvas = document.createElement('canvas');
        const ctx = canvas.getContext('2d')!;
        ctx.font = `30px "${font}"`;
        canvas.width = Math.ceil(ctx.measureText(text).width) + 16;
        canvas.height = 48;
        ctx.fillStyle = '#fff';
        ctx.fillRect(0, 0, canvas.width, canvas.height);
        ctx.fillStyle = '#000';
        ctx.font = `30px "${font}"`;
        ctx.textBaseline = 'middle';
        ctx.fillText(text, 8, 24);
        return grey(canvas);
      });
      const pages = pageSpecs.map((spec) => {
        const canvas = document.createElement('canvas');
        canvas.width = spec.width;
        canvas.height = spec.height;
        const ctx = canvas.getContext('2d')!;
        ctx.fillStyle = '#fff';
        ctx.fillRect(0, 0, spec.width, spec.height);
        ctx.fillStyle = '#000';
        ctx.textBaseline = 'top';
        let y = 16;
        for (const line of spec.lines) {
          ctx.font = `${line.size}px "${line.font}"`;
          ctx.fillText(line.text, 16, y);
          y += Math.round(line.size * 1.8);
        }
        return grey(canvas);
      });
      return { lines, pages };
    }, lines, pages);
  } finally {
    await browser.close();
  }
}
