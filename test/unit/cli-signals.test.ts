// The interrupt clean-up (src/cli/signals.ts): the registered temporary files are deleted, then the registered
// folders that are empty, inner ones first; a folder holding anything else stays, and untracked ones are left alone.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removeTempFiles, trackTempFile, trackTempFolder, untrackTempFile, untrackTempFolder } from '../../src/cli/signals.js';

const root = mkdtempSync(join(tmpdir(), 'wq-signals-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('interrupt clean-up', () => {
  it('removes the temporary files, then the empty folders made, inner first; keeps what is not its own', () => {
    const made = join(root, 'web');
    const inner = join(made, 'onnx');
    mkdirSync(inner, { recursive: true });
    trackTempFolder(made);
    trackTempFolder(inner);
    const temp = join(inner, '.model_q4.onnx.webgpu-quant-tmp-1');
    writeFileSync(temp, 'partial');
    trackTempFile(temp);
    // A user's folder with a file of theirs: only the temporary file goes.
    const theirs = join(root, 'theirs');
    mkdirSync(theirs);
    writeFileSync(join(theirs, 'model.onnx'), 'upstream');
    trackTempFolder(theirs);
    const kept = join(theirs, '.x.webgpu-quant-tmp-2');
    writeFileSync(kept, 'partial');
    trackTempFile(kept);
    // Registered, then finished: left alone.
    const done = join(root, 'done');
    mkdirSync(done);
    trackTempFolder(done);
    untrackTempFolder(done);
    const finished = join(root, 'finished.onnx');
    writeFileSync(finished, 'complete');
    trackTempFile(finished);
    untrackTempFile(finished);
    removeTempFiles();
    expect([existsSync(temp), existsSync(inner), existsSync(made)]).toEqual([false, false, false]);
    expect([existsSync(kept), existsSync(join(theirs, 'model.onnx'))]).toEqual([false, true]);
    expect([existsSync(done), existsSync(finished)]).toEqual([true, true]);
    removeTempFiles(); // nothing registered any more: nothing happens
    expect(existsSync(done)).toBe(true);
  });
});
