// Where compress writes, and what it leaves behind: devices and FIFOs are written directly (never renamed
// over), sockets and folders refused, -o - writes to stdout, the input is never overwritten by accident,
// no temporary file outlives an error, stale ones are pointed out, file errors are one line, and the
// files the command opens are closed.
import { execFileSync } from 'node:child_process';
import {
  appendFileSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync,
  statSync, symlinkSync, writeFileSync,
} from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { OnnxModel } from '../../src/io/onnx/onnx-model.js';
import { readQdqWeights } from '../../src/io/onnx/qdq-read.js';
import { openOutput, resolveOutput } from '../../src/cli/output.js';
import { FormatError } from '../../src/errors.js';
import { nodeFileSource } from '../../src/io/safetensors/node-file-source.js';
import { runCli, tinyOnnx, tinyWeights, writeSafetensors } from './cli-support.js';

const root = mkdtempSync(join(tmpdir(), 'webgpu-quant-cli-out-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let serial = 0;
/** A fresh folder holding a tiny float model `m.onnx`. */
function folderWithModel(): { dir: string; model: string; bytes: Uint8Array } {
  const dir = join(root, `case-${serial++}`);
  mkdirSync(dir);
  const { w, b } = tinyWeights();
  const bytes = tinyOnnx([{ name: 'w', dims: [64, 64], data: w }, { name: 'b', dims: [64], data: b }]);
  writeFileSync(join(dir, 'm.onnx'), bytes);
  return { dir, model: join(dir, 'm.onnx'), bytes };
}
const tempFiles = (dir: string) => readdirSync(dir).filter((f) => f.includes('webgpu-quant-tmp'));
const cpu = ['--backend', 'cpu'];

async function expectQdqModel(bytes: Uint8Array): Promise<void> {
  const model = await OnnxModel.load(bytes);
  expect([...(await readQdqWeights(model)).keys()]).toEqual(['w']);
}

describe('non-regular outputs are written directly, never replaced', () => {
  it('a character device stays a character device (exit 0)', async () => {
    const { dir, model } = folderWithModel();
    const device = join(dir, 'null');
    // Root makes its own /dev/null twin (major 1, minor 3) so that a regression cannot replace the real one.
    if (process.getuid?.() === 0) execFileSync('mknod', [device, 'c', '1', '3']);
    const target = process.getuid?.() === 0 ? device : '/dev/null';
    const result = await runCli(['compress', model, '-o', target, ...cpu]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(statSync(target).isCharacterDevice()).toBe(true);
    expect(tempFiles(dir)).toEqual([]);
  });

  it('a FIFO receives the model and stays a FIFO', async () => {
    const { dir, model } = folderWithModel();
    const fifo = join(dir, 'pipe.onnx');
    execFileSync('mkfifo', [fifo]);
    const received = readFile(fifo); // opens for reading: the writer's open then succeeds
    const result = await runCli(['compress', model, '-o', fifo, ...cpu]);
    expect(result.code).toBe(0);
    await expectQdqModel(await received);
    expect(lstatSync(fifo).isFIFO()).toBe(true);
    expect(tempFiles(dir)).toEqual([]);
  });

  it('a socket is refused with one line, exit 1, and stays a socket', async () => {
    const { dir, model } = folderWithModel();
    const socket = join(dir, 'sock');
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    try {
      const result = await runCli(['compress', model, '-o', socket, ...cpu]);
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(`webgpu-quant: ${socket}: is a socket; give the path of a file to write\n`);
      expect(lstatSync(socket).isSocket()).toBe(true);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('-o - writes the model to stdout and every message to stderr', async () => {
    const { model } = folderWithModel();
    const result = await runCli(['compress', model, '-o', '-', ...cpu]);
    expect(result.code).toBe(0);
    await expectQdqModel(result.stdoutBytes);
    expect(result.stderr).toMatch(/m\.onnx -> <stdout>\ntensors: 1 quantized, 1 kept\n/);
    const terminal = await runCli(['compress', model, '-o', '-', ...cpu], { stdoutIsTTY: true });
    expect(terminal.code).toBe(2);
    expect(terminal.stderr).toMatch(/^webgpu-quant: -o - writes the binary model to stdout, which is a terminal here; /);
    expect(terminal.stdoutBytes.byteLength).toBe(0);
    const json = await runCli(['compress', model, '-o', '-', '--json', ...cpu]);
    expect(JSON.parse(json.stderr).output).toBe('<stdout>');
    await expectQdqModel(json.stdoutBytes);
  });
});

describe('a file output can start again', () => {
  it('the file sink forwards restart(): what follows a restart is all the file holds; devices and stdout have none', async () => {
    const dir = join(root, `case-${serial++}`);
    mkdirSync(dir);
    const path = join(dir, 'out.bin');
    const sink = await openOutput(await resolveOutput(path, [], false), process.stdout);
    await sink.write(Uint8Array.of(1, 2, 3, 4));
    await sink.restart!();
    await sink.write(Uint8Array.of(9, 8));
    await sink.close();
    expect([...readFileSync(path)]).toEqual([9, 8]);
    expect(tempFiles(dir)).toEqual([]);
    const direct = await openOutput(await resolveOutput('/dev/null', [], false), process.stdout);
    expect(direct.restart).toBeUndefined();
    await direct.close();
    expect((await openOutput(await resolveOutput('-', [], false), process.stdout)).restart).toBeUndefined();
  });

  it('compress to a file writes as planned and starts again where a plan differs: the bytes written to stdout, which cannot', async () => {
    const dir = join(root, `case-${serial++}`);
    mkdirSync(dir);
    const { w } = tinyWeights(128, 64);
    const broken = w.slice();
    broken[70] = NaN; // planned F32 instead of Q8_0 (GGUF), kept (safetensors): the file starts again
    const input = join(dir, 'w.safetensors');
    writeSafetensors(input, [
      { name: 'a.weight', shape: [128, 64], data: w }, { name: 'b.weight', shape: [128, 64], data: broken }, { name: 'c.weight', shape: [128, 64], data: w },
    ]);
    for (const format of ['gguf', 'safetensors']) {
      const file = await runCli(['compress', input, '-o', join(dir, `out.${format}`), '--workers', '0', ...cpu]);
      expect(file.code, file.stderr).toBe(0);
      const piped = await runCli(['compress', input, '-o', '-', '--format', format, '--workers', '0', ...cpu]);
      expect(piped.code, piped.stderr).toBe(0);
      expect(Buffer.compare(readFileSync(join(dir, `out.${format}`)), piped.stdoutBytes), format).toBe(0);
      expect(tempFiles(dir)).toEqual([]);
    }
  });

  it('an ONNX model to a file is written as planned while compressed, or again after a weight other than planned: stdout\'s bytes (the worker pool: cli-workers.test.ts)', async () => {
    const dir = join(root, `case-${serial++}`);
    mkdirSync(dir);
    const { w, b } = tinyWeights(128, 64);
    const broken = w.slice();
    broken[70] = NaN; // planned int8, kept float: the file starts again
    for (const [name, weight] of [['plain', w], ['broken', broken]] as const) {
      const input = join(dir, `${name}.onnx`);
      writeFileSync(input, tinyOnnx([{ name: 'w', dims: [128, 64], data: weight }, { name: 'b', dims: [64], data: b }]));
      for (const workers of ['0', 'default']) {
        const output = join(dir, `${name}-${workers}.out.onnx`);
        const threads = workers === '0' ? ['--workers', '0'] : [];
        const file = await runCli(['compress', input, '-o', output, ...threads, '--first-layer', 'quantize', ...cpu]);
        expect(file.code, file.stderr).toBe(0);
        const piped = await runCli(['compress', input, '-o', '-', ...threads, '--first-layer', 'quantize', ...cpu]);
        expect(piped.code, piped.stderr).toBe(0);
        expect(Buffer.compare(readFileSync(output), piped.stdoutBytes), `${name}, --workers ${workers}`).toBe(0);
        const weights = await readQdqWeights(await OnnxModel.load(readFileSync(output)));
        expect([...weights.keys()], name).toEqual(name === 'plain' ? ['w'] : []);
        expect(tempFiles(dir)).toEqual([]);
      }
    }
  });
});

describe('an input that changes while the output is written from it', () => {
  it('written to, replaced or removed while open: the file output is not renamed into place (FormatError naming it)', async () => {
    for (const change of ['none', 'append', 'rewrite', 'replace', 'remove', 'before'] as const) {
      const dir = join(root, `case-${serial++}`);
      mkdirSync(dir);
      const input = join(dir, 'in.onnx');
      writeFileSync(input, Buffer.alloc(4096, 1));
      // A source opened before the output belongs to someone else: its changes are not this output's concern.
      const earlier = change === 'before' ? await nodeFileSource(input) : undefined;
      const output = join(dir, 'out.onnx');
      const sink = await openOutput(await resolveOutput(output, [input], false), process.stdout);
      const source = change === 'before' ? undefined : await nodeFileSource(input);
      try {
        await sink.write(new Uint8Array(16));
        if (change === 'append' || change === 'before') appendFileSync(input, 'x');
        if (change === 'rewrite') { await new Promise((r) => setTimeout(r, 20)); writeFileSync(input, Buffer.alloc(4096, 2)); }
        if (change === 'replace') { writeFileSync(join(dir, 'other'), Buffer.alloc(4096, 1)); renameSync(join(dir, 'other'), input); }
        if (change === 'remove') rmSync(input);
        if (change === 'none' || change === 'before') {
          await sink.close();
          expect(readFileSync(output).byteLength, change).toBe(16);
        } else {
          const error = await sink.close().then(() => undefined, (e: unknown) => e);
          expect(error, change).toBeInstanceOf(FormatError);
          expect((error as Error).message, change).toMatch(new RegExp(`in\\.onnx \\((written to|replaced or removed) while open\\): the input changed while .*out\\.onnx was written from it; nothing was written`));
          expect(existsSync(output), change).toBe(false);
        }
        expect(tempFiles(dir), change).toEqual([]);
      } finally {
        await source?.close();
        await earlier?.close();
      }
    }
  });
});

describe('the input is never overwritten by accident', () => {
  it('the same file by any spelling (./, .., symbolic link, hard link) is refused, exit 1, the input unchanged', async () => {
    const { dir, model, bytes } = folderWithModel();
    mkdirSync(join(dir, 'sub'));
    symlinkSync(model, join(dir, 'link.onnx'));
    linkSync(model, join(dir, 'hard.onnx'));
    for (const output of [model, join(dir, '.', 'm.onnx').replace('m.onnx', './m.onnx'), `${dir}/sub/../m.onnx`, join(dir, 'link.onnx'), join(dir, 'hard.onnx')]) {
      const result = await runCli(['compress', model, '-o', output, ...cpu]);
      expect(result.code, output).toBe(1);
      expect(result.stderr).toBe(`webgpu-quant: ${output}: is the input file ${model} itself; writing it would replace the original. `
        + 'Choose another output, or add --force to overwrite the input\n');
      expect(readFileSync(model)).toEqual(Buffer.from(bytes));
    }
    const safetensors = join(dir, 'm.safetensors');
    writeSafetensors(safetensors, [{ name: 'w', shape: [64, 64], data: tinyWeights().w }]);
    const st = await runCli(['compress', safetensors, '-o', safetensors, ...cpu]);
    expect(st.code).toBe(1);
    expect(tempFiles(dir)).toEqual([]);
  });

  it('--force overwrites the input', async () => {
    const { dir, model } = folderWithModel();
    const result = await runCli(['compress', model, '-o', model, '--force', ...cpu]);
    expect(result.code).toBe(0);
    await expectQdqModel(readFileSync(model));
    expect(tempFiles(dir)).toEqual([]);
  });

  it('through a symbolic link to another file, the file is replaced and the link kept', async () => {
    const { dir, model } = folderWithModel();
    writeFileSync(join(dir, 'old.onnx'), 'old');
    symlinkSync('old.onnx', join(dir, 'current.onnx'));
    const result = await runCli(['compress', model, '-o', join(dir, 'current.onnx'), ...cpu]);
    expect(result.code).toBe(0);
    expect(readlinkSync(join(dir, 'current.onnx'))).toBe('old.onnx');
    await expectQdqModel(readFileSync(join(dir, 'old.onnx')));
  });
});

describe('temporary files', () => {
  it('an error after the output is opened leaves no temporary file and no output', async () => {
    const { dir } = folderWithModel();
    const { w, b } = tinyWeights();
    const model = join(dir, 'ext.onnx');
    // The weights live in an external file that is missing: reading them fails after the output exists.
    writeFileSync(model, tinyOnnx([{ name: 'w', dims: [64, 64], data: w, external: { location: 'gone.bin', offset: 0 } },
      { name: 'b', dims: [64], data: b }]));
    const listing = readdirSync(dir);
    for (const out of ['ext.q8.safetensors', 'ext.q8.onnx']) {
      const result = await runCli(['compress', model, '-o', join(dir, out), ...cpu]);
      expect(result.code, out).toBe(1);
      expect(readdirSync(dir)).toEqual(listing); // no output, no temporary file of any name
      expect(result.stderr).toMatch(/^webgpu-quant: .*ext\.onnx: initializer "w" in graph: external data file "gone\.bin" was not found; place it next to the model\n$/);
    }
  });

  it('temporary files are named .<name>.webgpu-quant-tmp-<random>; compress points out stale ones', async () => {
    const { dir, model } = folderWithModel();
    const stale = join(dir, '.out.onnx.webgpu-quant-tmp-0123456789ab');
    writeFileSync(stale, '');
    writeFileSync(join(dir, '.other.onnx.webgpu-quant-tmp-0123456789ab'), '');
    const result = await runCli(['compress', model, '-o', join(dir, 'out.onnx'), ...cpu]);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe(`webgpu-quant: note: ${stale} is left over from an interrupted run; delete it unless another webgpu-quant `
      + `is writing ${join(dir, 'out.onnx')} now\n`);
    expect(existsSync(stale)).toBe(true); // pointed out, not deleted: it may belong to a run still going
  });
});

describe('file errors are one line, exit 1', () => {
  it('a folder named like a model, as input of compress and inspect, as --original and as output', async () => {
    const { dir, model } = folderWithModel();
    const folder = join(dir, 'x.onnx');
    mkdirSync(folder);
    const cases: [string[], string][] = [
      [['compress', folder, '-o', join(dir, 'y.onnx')], `${folder}: is a folder, not a model file`],
      [['compress', folder, '-o', join(dir, 'y.safetensors')], `${folder}: is a folder, not a model file`],
      [['inspect', folder], `${folder}: is a folder, not a model file`],
      [['inspect', model, '--original', folder], `${folder}: is a folder, not a model file`],
      [['compress', model, '-o', folder], `${folder}: is a folder; give the path of a file to write`],
      [['compress', join(dir, 'missing.onnx'), '-o', join(dir, 'y.onnx')], `${join(dir, 'missing.onnx')}: no such file`],
      [['inspect', join(dir, 'missing.safetensors')], `${join(dir, 'missing.safetensors')}: no such file`],
      [['compress', model, '-o', join(dir, 'nowhere', 'y.onnx')], `${join(dir, 'nowhere', 'y.onnx')}: the folder ${join(dir, 'nowhere')} does not exist; create it first`],
    ];
    for (const [argv, message] of cases) {
      const result = await runCli([...argv, ...(argv[0] === 'compress' ? cpu : [])]);
      expect(result.code, argv.join(' ')).toBe(1);
      expect(result.stderr).toBe(`webgpu-quant: ${message}\n`);
    }
    expect(tempFiles(dir)).toEqual([]);
  });

  it('duplicate initializer names: the message names the file', async () => {
    const { dir } = folderWithModel();
    const { w, b } = tinyWeights();
    const dup = join(dir, 'dup.onnx');
    writeFileSync(dup, tinyOnnx([{ name: 'w', dims: [64, 64], data: w }, { name: 'w', dims: [64], data: b }]));
    for (const argv of [['compress', dup, '-o', join(dir, 'out.onnx'), ...cpu], ['inspect', dup]]) {
      const result = await runCli(argv);
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(`webgpu-quant: ${dup}: graph graph: initializer "w" is defined twice\n`);
    }
  });
});

describe('no bundled sample model', () => {
  it('compress without an input prints the usage and says what to give, exit 2', async () => {
    const result = await runCli(['compress', '-o', join(root, 'never.onnx')], { bundledModel: () => undefined });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^webgpu-quant: no input model given, and the bundled sample model \(@ricky0123\/vad-web, installed for development only\) is not installed; give a \.onnx or \.safetensors file to compress\nUsage:/);
    expect(existsSync(join(root, 'never.onnx'))).toBe(false);
  });
});

describe('open files are closed', () => {
  const openFiles = () => readdirSync('/proc/self/fd').length;

  it('compress and inspect of safetensors close the file (no descriptor left for the garbage collector)', async () => {
    const { dir } = folderWithModel();
    const input = join(dir, 'w.safetensors');
    writeSafetensors(input, [{ name: 'w', shape: [64, 64], data: tinyWeights().w }, { name: 'b', shape: [64], data: tinyWeights().b }]);
    await runCli(['compress', input, '-o', join(dir, 'warm.safetensors'), ...cpu]); // first-use imports and workers
    const before = openFiles();
    for (let i = 0; i < 3; i++) {
      expect((await runCli(['compress', input, '-o', join(dir, `q${i}.safetensors`), ...cpu])).code).toBe(0);
      expect((await runCli(['inspect', join(dir, `q${i}.safetensors`), '--original', input])).code).toBe(0);
    }
    expect(openFiles()).toBe(before);
  });
});
