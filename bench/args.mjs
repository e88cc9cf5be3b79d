// bench/run.mjs's command line: options and the matrix shape of a size (see the comment at the top of
// bench/run.mjs for the options).
import { join, resolve } from 'node:path';

export function parseArgs(argv, root) {
  const options = {
    elements: [16_777_216], reps: 10, warmup: 2, e2eReps: 3, wall: false, qint32: true, quantize: true, reductions: true,
    mseShape: [256, 4096], out: join(root, 'bench/results'), ort: true, ortReps: 10, groups: true, sweep: 0, profile: true,
    compare: ['default', 'mlp'], compareReps: 3,
  };
  for (const arg of argv) {
    const [key, value] = arg.replace(/^--/, '').split('=');
    const int = () => {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 0) throw new Error(`--${key} needs a non-negative integer, got ${value}`);
      return n;
    };
    if (key === 'elements') options.elements = value.split(',').map(Number);
    else if (key === 'reps') options.reps = Math.max(1, int());
    else if (key === 'warmup') options.warmup = int();
    else if (key === 'e2e-reps') options.e2eReps = int();
    else if (key === 'wall') options.wall = true;
    else if (key === 'no-qint32') options.qint32 = false;
    else if (key === 'no-quantize') options.quantize = false;
    else if (key === 'no-reductions') options.reductions = false;
    else if (key === 'no-ort') options.ort = false;
    else if (key === 'no-groups') options.groups = false;
    else if (key === 'no-profile') options.profile = false;
    else if (key === 'no-compare') options.compare = [];
    else if (key === 'compare') {
      options.compare = value.split(',');
      if (!options.compare.every((m) => m === 'default' || m === 'mlp')) throw new Error(`--compare takes default and/or mlp, got ${value}`);
    }
    else if (key === 'compare-reps') options.compareReps = Math.max(1, int());
    else if (key === 'sweep') options.sweep = value === undefined ? 16_777_216 : int();
    else if (key === 'ort-reps') options.ortReps = Math.max(1, int());
    else if (key === 'mse-shape') {
      options.mseShape = value.split('x').map(Number);
      if (options.mseShape.length !== 2 || !options.mseShape.every((d) => Number.isInteger(d) && d > 0)) {
        throw new Error(`--mse-shape needs ROWSxCOLUMNS, e.g. 256x4096, got ${value}`);
      }
    }
    else if (key === 'out') options.out = resolve(value);
    else if (key === 'node') options.node = resolve(root, value ?? '.tmp/node-gpu/bench-page.mjs');
    else throw new Error(`unknown option ${arg} (see the comment at the top of bench/run.mjs)`);
  }
  return options;
}

/** [n, n] when n is a square (16M -> [4096, 4096]), else [n / 4096, 4096]. */
export function matrixShape(elements) {
  const side = Math.round(Math.sqrt(elements));
  if (side * side === elements && side % 4 === 0) return [side, side];
  if (elements % 4096 === 0) return [elements / 4096, 4096];
  throw new Error(`--elements=${elements}: use a square of a multiple of 4 or a multiple of 4096`);
}
