// The plumbing limit's pass: reads the input's bytes and writes the output's, nothing else. Each step reads
// READS vec4s and writes WRITES vec4s (quantize 8-bit: 4 and 1; 4-bit: 8 and 1; dequantize 8-bit: 1 and 4),
// combined with one xor so nothing is elided; VECS_PER_INVOCATION steps per invocation, strided by the whole
// dispatch like the kernels (bench/copy-vec4.wgsl), 2-D folds as in shaders/common/indexing.wgsl.

override WORKGROUP_SIZE: u32 = 256;
override VECS_PER_INVOCATION: u32 = 16;
override READS: u32 = 4;
override WRITES: u32 = 1;

@group(0) @binding(0) var<storage, read> source: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read_write> destination: array<vec4<u32>>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn plumb(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let t = gid.x + gid.y * groups.x * WORKGROUP_SIZE;
  let steps = arrayLength(&destination) / WRITES;
  let invocations = (steps + VECS_PER_INVOCATION - 1u) / VECS_PER_INVOCATION;
  if (t >= invocations) { return; }
  for (var k = 0u; k < VECS_PER_INVOCATION; k++) {
    let i = t + k * invocations;
    if (i < steps) {
      var v = vec4<u32>(0u);
      for (var r = 0u; r < READS; r++) { v = v ^ source[i * READS + r]; }
      for (var w = 0u; w < WRITES; w++) { destination[i * WRITES + w] = v; }
    }
  }
}
