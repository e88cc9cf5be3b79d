// What a user installs stays small: the runtime dependencies are an allowlist (each with its reason), the
// heavy packages the tests and the app use stay development dependencies, every bare import in src/ is
// either installed for the user or bundled into dist/ by the build, and only dist/, bin/ and the README ship.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const kRoot = resolve(import.meta.dirname, '../..');
const pkg = JSON.parse(readFileSync(join(kRoot, 'package.json'), 'utf8')) as {
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  files?: string[];
};

/** The only runtime dependencies, and why each is worth its install. */
const kRuntimeAllowlist: Record<string, string> = {
  '@webgpu/types': 'the WebGPU types the published .d.ts files name (GPUDevice); types only, about 0.1 MB',
};

/** Packages the build bundles into dist/ (so a user never installs them), and why. */
const kBundled: Record<string, string> = {
  'onnx-proto': 'the ONNX schema; with protobufjs about 0.7 MB bundled, against 23 MB for protobufjs 6 installed',
};

/** Packages that must never be runtime dependencies: each weighs tens of MB or more. */
const kHeavy = ['@ricky0123/vad-web', 'onnxruntime-web', 'onnxruntime-node', 'onnxruntime-common', 'puppeteer-core', 'protobufjs'];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

/** The bare package names a source file imports (static and dynamic imports, `export … from`), comments aside. */
function bareImports(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const names: string[] = [];
  for (const match of code.matchAll(/(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|^import\s+['"]([^'"]+)['"]/gm)) {
    const specifier = match[1] ?? match[2] ?? match[3]!;
    if (specifier.startsWith('.') || specifier.startsWith('node:') || specifier.startsWith('/')) continue;
    const parts = specifier.split('/');
    names.push(specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!);
  }
  return names;
}

describe('the published package', () => {
  it('has only the allowlisted runtime dependencies', () => {
    expect(Object.keys(pkg.dependencies ?? {}).sort()).toEqual(Object.keys(kRuntimeAllowlist).sort());
  });

  it('keeps the heavy packages out of what a user installs', () => {
    for (const name of kHeavy) {
      expect(pkg.dependencies?.[name], `${name} is a runtime dependency`).toBeUndefined();
      const peerIsRequired = pkg.peerDependencies?.[name] !== undefined && pkg.peerDependenciesMeta?.[name]?.optional !== true;
      expect(peerIsRequired, `${name} is a required peer dependency`).toBe(false);
    }
    expect(pkg.devDependencies?.['@ricky0123/vad-web'], 'the sample model is a development dependency').toBeDefined();
  });

  it('imports, in src/, only what the user installs, an optional peer, or what the build bundles', () => {
    const allowed = new Set([...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {}), ...Object.keys(kBundled)]);
    const offending: string[] = [];
    let seen = 0;
    for (const file of sourceFiles(join(kRoot, 'src'))) {
      for (const name of bareImports(readFileSync(file, 'utf8'))) {
        seen++;
        if (!allowed.has(name)) offending.push(`${file.slice(kRoot.length + 1)} imports ${name}`);
      }
    }
    expect(seen, 'the import scan found nothing: is the pattern broken?').toBeGreaterThan(0);
    expect(offending).toEqual([]);
  });

  it('bundles what it does not install: the build keeps only node:, webgpu and optional peers external', () => {
    const config = readFileSync(join(kRoot, 'vite.config.ts'), 'utf8');
    const external = /external:\s*\[([^\]]*)\]/.exec(config)?.[1] ?? '';
    for (const name of Object.keys(kBundled)) expect(external, `${name} must be bundled`).not.toContain(`'${name}'`);
  });

  it('ships dist/, bin/ and the README only', () => {
    expect([...(pkg.files ?? [])].sort()).toEqual(['README.md', 'bin', 'dist']);
  });

  it('sees through the import scanner: bare names, scopes and subpaths', () => {
    expect(bareImports("import { a } from 'onnx-proto';\nimport type { B } from '@scope/pkg/sub';\nconst m = await import('webgpu');\nimport './x.js';\nimport { c } from 'node:fs';\n/** import { d } from 'in-a-comment'; */"))
      .toEqual(['onnx-proto', '@scope/pkg', 'webgpu']);
  });
});
