// nodeFileSink never renames over something that is not a regular file (a device, a FIFO, a folder), and
// tells its caller the temporary file's name before creating it.
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { nodeFileSink } from '../../src/io/safetensors/node-file-sink.js';

const dir = mkdtempSync(join(tmpdir(), 'webgpu-quant-sink-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function expectRefused(path: string): Promise<void> {
  await expect(nodeFileSink(path)).rejects.toThrow(InvalidArgumentError);
  await expect(nodeFileSink(path)).rejects.toThrow(/exists and is not a regular file/);
}

describe('nodeFileSink', () => {
  it('refuses a FIFO, a folder and (as root, on its own twin of /dev/null) a character device, leaving them as they are', async () => {
    const fifo = join(dir, 'pipe');
    execFileSync('mkfifo', [fifo]);
    await expectRefused(fifo);
    expect(lstatSync(fifo).isFIFO()).toBe(true);
    const folder = join(dir, 'folder.safetensors');
    mkdirSync(folder);
    await expectRefused(folder);
    if (process.getuid?.() === 0) {
      const device = join(dir, 'null');
      execFileSync('mknod', [device, 'c', '1', '3']);
      await expectRefused(device);
      expect(statSync(device).isCharacterDevice()).toBe(true);
    }
    expect(readdirSync(dir).filter((f) => f.includes('webgpu-quant-tmp'))).toEqual([]);
  });

  it('refuses at close() when the target became a non-regular file meanwhile, and removes its temporary file', async () => {
    const path = join(dir, 'later.safetensors');
    const sink = await nodeFileSink(path);
    await sink.write(Uint8Array.of(1, 2, 3));
    execFileSync('mkfifo', [path]);
    await expect(sink.close()).rejects.toThrow(/exists and is not a regular file/);
    expect(lstatSync(path).isFIFO()).toBe(true);
    expect(readdirSync(dir).filter((f) => f.startsWith('.later'))).toEqual([]);
    unlinkSync(path);
  });

  it('replaces a regular file, and names the temporary file before creating it', async () => {
    const path = join(dir, 'model.safetensors');
    writeFileSync(path, 'old');
    const announced: string[] = [];
    const sink = await nodeFileSink(path, { onTempFile: (temp) => { announced.push(temp); expect(() => lstatSync(temp)).toThrow(/ENOENT/); } });
    expect(announced).toEqual([sink.tempPath]);
    await sink.write(Uint8Array.of(7, 8));
    await sink.close();
    expect([...readFileSync(path)]).toEqual([7, 8]);
  });

  it('restart() empties the file: what follows starts at byte 0, and the target is untouched until close()', async () => {
    const path = join(dir, 'restarted.safetensors');
    writeFileSync(path, 'old');
    const sink = await nodeFileSink(path);
    const first = Uint8Array.from({ length: 5000 }, (_, i) => (i * 7) & 255);
    await sink.write(first);
    await sink.restart!();
    expect(sink.byteLength).toBe(0);
    expect(statSync(sink.tempPath).size).toBe(0);
    await sink.write(Uint8Array.of(1, 2, 3));
    expect(readFileSync(path, 'utf8')).toBe('old');
    await sink.close();
    expect([...readFileSync(path)]).toEqual([1, 2, 3]);
    await expect(sink.restart!()).rejects.toThrow(/restart after the sink was closed/);
  });

  it('flush() puts every byte written in the temporary file without renaming; close() then renames', async () => {
    const path = join(dir, 'flushed.onnx');
    writeFileSync(path, 'old');
    const sink = await nodeFileSink(path);
    const bytes = Uint8Array.from({ length: 3000 }, (_, i) => (i * 13) & 255);
    await sink.write(bytes);
    await sink.flush();
    expect(readFileSync(path, 'utf8')).toBe('old');
    expect(Buffer.compare(readFileSync(sink.tempPath), bytes)).toBe(0);
    await sink.write(Uint8Array.of(9)); // still open
    await sink.close();
    expect(readFileSync(path).byteLength).toBe(3001);
    await expect(sink.flush()).rejects.toThrow(/flush after the sink was closed/);
  });

  it('flushes to disk in the background while written (every 64 MiB) and still writes every byte in order', { timeout: 60_000 }, async () => {
    const path = join(dir, 'big.safetensors');
    const sink = await nodeFileSink(path);
    const chunk = new Uint8Array(24 * 2 ** 20);
    for (let k = 0; k < 4; k++) { // 96 MiB: one background flush starts, maybe two
      chunk.fill(k + 1);
      chunk[0] = 100 + k;
      await sink.write(chunk);
    }
    await sink.restart!(); // waits for a flush in flight, then empties the file
    for (let k = 0; k < 4; k++) { chunk.fill(k + 11); await sink.write(chunk); }
    await sink.close();
    const out = readFileSync(path);
    expect(out.byteLength).toBe(4 * chunk.byteLength);
    for (let k = 0; k < 4; k++) {
      expect([out[k * chunk.byteLength], out[(k + 1) * chunk.byteLength - 1]]).toEqual([k + 11, k + 11]);
    }
    expect(readdirSync(dir).filter((name) => name.includes('big.safetensors.webgpu-quant-tmp-'))).toEqual([]);
  });
});
