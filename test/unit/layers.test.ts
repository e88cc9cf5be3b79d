// The folder tree is the layer order: every relative import in src/ must point to the same layer or a lower
// one. A file's layer is the first prefix below that matches its path.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, posix, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');

/** Lowest first. A file may import from its own layer and any layer before it, never after. */
const LAYERS: ReadonlyArray<readonly [layer: string, prefixes: readonly string[]]> = [
  ['shaders', ['shaders/']],
  ['core', ['src/errors.ts', 'src/dtype.ts', 'src/tensor.ts', 'src/validate.ts', 'src/layout.ts', 'src/round.ts',
    'src/pack-nibbles.ts', 'src/qtensor.ts', 'src/wgsl.d.ts']],
  ['gpu', ['src/gpu/']],
  ['semantics', ['src/calibration/', 'src/stats/']],
  ['reference', ['src/reference/']],
  ['kernels', ['src/kernels/']],
  ['ops', ['src/ops/']],
  ['observers', ['src/observers/']],
  ['io', ['src/io/']],
  ['compress', ['src/compress/']],
  ['verify', ['src/verify/']],
  ['cli', ['src/cli/']],
  ['entries', ['src/index.ts', 'src/models.ts', 'src/internals.ts']],
];

function layerOf(path: string): number {
  const index = LAYERS.findIndex(([, prefixes]) => prefixes.some((prefix) => path === prefix || (prefix.endsWith('/') && path.startsWith(prefix))));
  if (index < 0) throw new Error(`${path} is in no layer: add it to LAYERS in test/unit/layers.test.ts`);
  return index;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : name.endsWith('.ts') ? [path] : [];
  });
}

/** Every relative specifier of import / export ... from / import(), with comments left out. */
function relativeImports(text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  return [...code.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"](\.{1,2}\/[^'"]+)['"]/g)].map((match) => match[1]!);
}

const files = sourceFiles(join(ROOT, 'src')).map((path) => relative(ROOT, path).split('\\').join('/'));
const edges = files.flatMap((file) => relativeImports(readFileSync(join(ROOT, file), 'utf8')).map((specifier) => {
  const target = posix.normalize(posix.join(posix.dirname(file), specifier.split('?')[0]!)).replace(/\.js$/, '.ts');
  return { file, specifier, target };
}));

describe('layers', () => {
  it('every file in src/ belongs to a layer, and the parser sees the imports', () => {
    for (const file of files) layerOf(file);
    expect(edges.length).toBeGreaterThan(100);
    expect(relativeImports("import a from './a.js';\nexport { b } from '../b.js';\n// import c from './c.js'\nimport('./d.js')"))
      .toEqual(['./a.js', '../b.js', './d.js']);
  });

  it('no import in src/ points to a higher layer', () => {
    const upward = edges.filter(({ file, target }) => layerOf(target) > layerOf(file))
      .map(({ file, specifier, target }) => `${file} (${LAYERS[layerOf(file)]![0]}) imports ${specifier} (${LAYERS[layerOf(target)]![0]})`);
    expect(upward).toEqual([]);
  });

  it('calibration/ and stats/ hold semantics only, and io/onnx borrows nothing from io/safetensors', () => {
    const borrowed = edges.filter(({ file, target }) =>
      (file.startsWith('src/io/onnx/') && target.startsWith('src/io/safetensors/'))
      || (file.startsWith('src/io/safetensors/') && target.startsWith('src/io/onnx/')));
    expect(borrowed.map(({ file, specifier }) => `${file} imports ${specifier}`)).toEqual([]);
    const semantics = edges.filter(({ file }) => file.startsWith('src/calibration/') || file.startsWith('src/stats/'));
    expect(semantics.filter(({ target }) => /^src\/(ops|kernels|gpu|reference)\//.test(target)).map(({ file, specifier }) => `${file} imports ${specifier}`)).toEqual([]);
  });
});
