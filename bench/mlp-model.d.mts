// Types of bench/mlp-model.mjs for the TypeScript bench pages.
export const MLP_WIDTHS: number[];
export function rng(seed: number): () => number;
export function normal(n: number, seed: number, sigma: number): Float32Array;
export function mlpModel(onnx: unknown, widths?: number[]): Uint8Array;
