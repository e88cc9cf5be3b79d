// Every ```ts block of README.md and docs/*.md runs as written, in Node, on the library's source: the
// 'webgpu-quant' and 'webgpu-quant/models' imports are pointed at src/, the block is written to a scratch
// folder that holds a `model.onnx` (the sample model) and a `model.safetensors`, and imported there. A block
// fails the test when it throws: an undefined name, a missing import, a wrong signature that throws, a
// missing `await`. Blocks that need a browser are fenced ```ts browser and reported as skipped with that reason.
// Every block, browser ones included, must also typecheck as a user's strict TypeScript project would see it.
// A line that states its typed-array result (`q.intRepr();  // Int8Array [-3, 0, 3, 6]`) is checked: the
// array type and every value (float values as float32).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { normalData, rng } from './support.js';

const kRoot = resolve(import.meta.dirname, '../..');
const kCoreEntry = join(kRoot, 'src/index.ts');
// The model I/O and compression entry point; before it exists, everything is exported from the core.
const kModelsEntry = existsSync(join(kRoot, 'src/models.ts')) ? join(kRoot, 'src/models.ts') : kCoreEntry;

/** Fence tags that mean "do not run in Node", with the reason the report gives. */
const kSkipReasons: Record<string, string> = { browser: 'needs a browser (File, DOM or WebGPU in a page)' };

interface CodeBlock {
  file: string;
  line: number;
  code: string;
  /** Why it is not run, or undefined when it is. */
  skip: string | undefined;
}

/** The ```ts blocks of a Markdown text, with the line each starts on. */
export function tsBlocks(markdown: string, file: string): CodeBlock[] {
  const blocks: CodeBlock[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```([A-Za-z]*)(?:\s+(.*))?$/.exec(lines[i]!);
    if (!open) continue;
    const [, indent, lang, tags] = open;
    let end = i + 1;
    while (end < lines.length && !/^\s*```\s*$/.test(lines[end]!)) end++;
    if (lang === 'ts' || lang === 'typescript') {
      const tag = (tags ?? '').trim().split(/\s+/)[0] ?? '';
      const skip = tag === '' ? undefined : kSkipReasons[tag] ?? `unknown fence tag "${tag}"`;
      const code = lines.slice(i + 1, end).map((l) => l.startsWith(indent!) ? l.slice(indent!.length) : l).join('\n');
      blocks.push({ file, line: i + 1, code, skip });
    }
    i = end;
  }
  return blocks;
}

const kArrayClaim = /^(\s*)([^/\s].*?);\s*\/\/\s*(Int8Array|Uint8Array|Int32Array|Float32Array|Float64Array) \[([-+0-9.,\sxa-fA-Fe]*)\]/;

/** Checks a stated typed-array result (installed on globalThis while a block runs). */
function expectArray(actual: unknown, type: string, expected: number[], where: string): void {
  const name = (actual as object | null)?.constructor?.name;
  if (name !== type) throw new Error(`${where}: expected a ${type}, got ${name}`);
  const values = Array.from(actual as ArrayLike<number>);
  const float = type.startsWith('Float');
  const same = values.length === expected.length
    && values.every((v, i) => float ? Object.is(Math.fround(v), Math.fround(expected[i]!)) : v === expected[i]);
  if (!same) throw new Error(`${where}: the text says ${type} [${expected.join(', ')}], the code gives [${values.join(', ')}]`);
}

/** The block with each stated typed-array result turned into a check of it. */
function withClaimsChecked(code: string, where: string): string {
  return code.split('\n').map((line, i) => {
    const claim = kArrayClaim.exec(line);
    if (!claim) return line;
    const [, indent, expression, type, list] = claim;
    const values = list!.split(',').map((v) => v.trim()).filter((v) => v !== '').map(Number);
    return `${indent}(globalThis as any).__expectArray(${expression}, '${type}', [${values.join(', ')}], ${JSON.stringify(`${where} +${i + 1}`)});`;
  }).join('\n');
}

/** The block with its package imports pointed at the source. */
function linked(code: string): string {
  return code
    .replace(/(from\s+|import\s*\(\s*)(['"])webgpu-quant\/models\2/g, (_m, lead: string) => `${lead}${JSON.stringify(pathToFileURL(kModelsEntry).href)}`)
    .replace(/(from\s+|import\s*\(\s*)(['"])webgpu-quant\2/g, (_m, lead: string) => `${lead}${JSON.stringify(pathToFileURL(kCoreEntry).href)}`);
}

const kDocs = [
  'README.md',
  ...readdirSync(join(kRoot, 'docs')).filter((name) => name.endsWith('.md')).sort().map((name) => `docs/${name}`),
];
const kBlocks = kDocs.flatMap((file) => tsBlocks(readFileSync(join(kRoot, file), 'utf8'), file));

let scratch = '';
let startDir = '';
let blockCount = 0;

/** Runs one block as a module in the scratch folder; its console output is kept out of the test log. */
async function runBlock(code: string, where = 'block'): Promise<void> {
  const path = join(scratch, `block-${blockCount++}.ts`);
  await writeFile(path, linked(withClaimsChecked(code, where)));
  const quiet = vi.spyOn(console, 'log').mockImplementation(() => {});
  (globalThis as { __expectArray?: typeof expectArray }).__expectArray = expectArray;
  try {
    await import(/* @vite-ignore */ pathToFileURL(path).href);
  } finally {
    quiet.mockRestore();
    delete (globalThis as { __expectArray?: typeof expectArray }).__expectArray;
  }
}

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'webgpu-quant-docs-'));
  // What the examples open: an ONNX model (the sample model the tests use) and a float32 safetensors file.
  await copyFile(createRequire(import.meta.url).resolve('@ricky0123/vad-web/dist/silero_vad_legacy.onnx'), join(scratch, 'model.onnx'));
  const next = rng(7);
  const { serializeSafetensors } = await import(/* @vite-ignore */ pathToFileURL(kModelsEntry).href) as {
    serializeSafetensors(tensors: { name: string; dtype: 'F32'; shape: number[]; data: Float32Array }[]): Promise<Uint8Array>;
  };
  const bytes = await serializeSafetensors([
    { name: 'encoder.weight', dtype: 'F32', shape: [64, 256], data: normalData(64 * 256, next, 0.05) },
    { name: 'encoder.bias', dtype: 'F32', shape: [64], data: normalData(64, next, 0.01) },
    { name: 'lm_head.weight', dtype: 'F32', shape: [128, 64], data: normalData(128 * 64, next, 0.05) },
  ]);
  await writeFile(join(scratch, 'model.safetensors'), bytes);
  startDir = process.cwd();
  process.chdir(scratch);
});

afterAll(async () => {
  if (startDir) process.chdir(startDir);
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe('documentation code blocks', () => {
  it('finds the README\'s examples, and every skipped block says why', () => {
    const readme = kBlocks.filter((b) => b.file === 'README.md');
    expect(readme.filter((b) => b.skip === undefined).length).toBeGreaterThanOrEqual(3);
    for (const block of kBlocks) expect(block.skip ?? '', `${block.file}:${block.line}`).not.toMatch(/^unknown fence tag/);
  });

  it('fails a block that uses an undefined name or a missing export', async () => {
    await expect(runBlock("import { tensor } from 'webgpu-quant';\nconst q = tensor([1, 2]);\nw.data;")).rejects.toThrow(/w is not defined/);
    await expect(runBlock("import { noSuchExport } from 'webgpu-quant';\nnoSuchExport();")).rejects.toThrow();
    await expect(runBlock("import { getBackend } from 'webgpu-quant';\n(await getBackend()).toUpperCase();\n")).resolves.toBeUndefined();
  });

  it('checks the typed-array results a block states', async () => {
    const block = (claim: string) => `import { tensor, quantizePerTensor } from 'webgpu-quant';\nconst q = await quantizePerTensor(tensor([-1.52, 0.01, 1.501, 3.0001]), 0.5, 0, 'qint8');\nq.intRepr();   // ${claim}`;
    await expect(runBlock(block('Int8Array [-3, 0, 3, 6], as torch gives'))).resolves.toBeUndefined();
    await expect(runBlock(block('Int8Array [-3, 0, 3, 7]'), 'wrong value')).rejects.toThrow(/wrong value \+3: the text says Int8Array \[-3, 0, 3, 7\], the code gives \[-3, 0, 3, 6\]/);
    await expect(runBlock(block('Uint8Array [-3, 0, 3, 6]'))).rejects.toThrow(/expected a Uint8Array, got Int8Array/);
    expect(withClaimsChecked('x.packedData();  // Uint8Array [0x42, 0x76]', 'w')).toContain("[66, 118]");
  });

  it('typecheck as written (strict, against the source\'s types)', async () => {
    // A canary that must fail, so that a checker which sees nothing cannot pass: getBackend returns a Promise.
    const canary = { code: "import { getBackend } from 'webgpu-quant';\nconst name: string = getBackend();\nconsole.log(name);", file: 'canary', line: 1, skip: undefined };
    const files = await Promise.all([...kBlocks, canary].map(async (block, i) => {
      const path = join(scratch, `typecheck-${i}.ts`);
      await writeFile(path, `${block.code}\nexport {};\n`);
      return { path, where: `${block.file}:${block.line}` };
    }));
    const { options } = ts.parseJsonConfigFileContent(JSON.parse(readFileSync(join(kRoot, 'tsconfig.json'), 'utf8')), ts.sys, kRoot);
    const compilerOptions: ts.CompilerOptions = {
      ...options, noUnusedLocals: false, noEmit: true,
      paths: {
        'webgpu-quant': [kCoreEntry], 'webgpu-quant/models': [kModelsEntry],
        // Runtimes a block may import (the verification examples): resolved from the repository's own install.
        'onnxruntime-web': [join(kRoot, 'node_modules/onnxruntime-web')], 'onnxruntime-node': [join(kRoot, 'node_modules/onnxruntime-node')],
      },
    };
    // Type libraries resolve from the repository, not from the scratch folder the blocks run in.
    const host = ts.createCompilerHost(compilerOptions);
    host.getCurrentDirectory = () => kRoot;
    const program = ts.createProgram(files.map((f) => f.path), compilerOptions, host);
    const problems = files.flatMap(({ path, where }) => ts.getPreEmitDiagnostics(program, program.getSourceFile(path)).map((d) => {
      const line = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : 0;
      return `${where} (+${line + 1}): ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
    }));
    expect(problems.filter((p) => p.startsWith('canary:'))).toEqual([expect.stringMatching(/Promise<ResolvedBackend>' is not assignable to type 'string'/)]);
    expect(problems.filter((p) => !p.startsWith('canary:'))).toEqual([]);
  });

  for (const block of kBlocks) {
    const title = `${block.file}:${block.line}`;
    if (block.skip !== undefined) {
      it.skip(`${title} (${block.skip})`, () => {});
    } else {
      it(`${title} runs as written`, async () => {
        await runBlock(block.code, title);
      });
    }
  }
});
