// What the suites use from the library (the built dist/, through the 'webgpu-quant' alias), plus a
// layout helper the suites need to build expectations.
export * from 'webgpu-quant';
export * from 'webgpu-quant/models';

/** `[outer, channels, inner]` around `axis` (negative counts from the end). */
export function channelLayoutOf(shape: readonly number[], axis: number): { outer: number; channels: number; inner: number } {
  const a = axis < 0 ? axis + shape.length : axis;
  let outer = 1;
  let inner = 1;
  for (let d = 0; d < a; d++) outer *= shape[d]!;
  for (let d = a + 1; d < shape.length; d++) inner *= shape[d]!;
  return { outer, channels: shape[a]!, inner };
}
