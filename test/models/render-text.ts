// Text rendered by headless Chromium (Debian's build, the fonts Debian ships: DejaVu, Liberation) on a
// canvas, handed back to Node as grey pixels: single lines at the recognizer's height (48 px) and small
// pages for the detector. One browser launch renders everything a test file needs.
import puppeteer from 'puppeteer-core';
import { CHROMIUM_ARGS, chromiumPath } from '../setup/chromium.js';

/** A grey image, row-major, 0 (black) to 255 (white). */
export interface GreyImage { width: number; height: number; pixels: Uint8Array }

/** One line of text to render, with its font (a CSS font family installed on the system). */
export interface TextLine { text: string; font: string }

/** A page: lines placed top to bottom at the given font sizes. */
export interface TextPage { width: number; height: number; lines: Array<TextLine & { size: number }> }

export const FONTS = ['DejaVu Sans', 'DejaVu Serif', 'DejaVu Sans Mono', 'Liberation Sans', 'Liberation Serif', 'Liberation Mono'] as const;

/** Renders `lines` (48 px high, the text at 30 px, 8 px margins) and `pages` in one Chromium. */
export async function renderText(lines: TextLine[], pages: TextPage[]): Promise<{ lines: GreyImage[]; pages: GreyImage[] }> {
  const browser = await puppeteer.launch({ executablePath: chromiumPath(), headless: true, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    const result = await page.evaluate(async (lineSpecs: TextLine[], pageSpecs: TextPage[]) => {
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
    const decode = (img: { width: number; height: number; pixels: string }): GreyImage =>
      ({ width: img.width, height: img.height, pixels: new Uint8Array(Buffer.from(img.pixels, 'base64')) });
    return { lines: result.lines.map(decode), pages: result.pages.map(decode) };
  } finally {
    await browser.close();
  }
}
