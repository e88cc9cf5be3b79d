// The uniform and channel table of the per-channel kernel family, and its indexing. Packed on the host
// by packUniform(PER_CHANNEL_PARAMS) in src/kernels/uniforms.ts; a unit test checks the two layouts agree.
//
// The host views the tensor as [outer, channels, inner]; element i belongs to channel
// (i / inner) % channels. Each invocation handles 4 consecutive elements: it finds the channel of the
// first with one division and steps to the next three. When all four share a channel (the outer-axis
// layout, inner >= 4) that channel's parameters are loaded once.

struct PerChannelParams {
  vec_count: u32,
  thread_count: u32,
  inner: u32,          // product of the dimensions after the axis
  channels: u32,       // size of the axis
  start_inner: u32,    // position within its inner run of this chunk's first element
  start_channel: u32,  // channel of this chunk's first element
  qmin: f32,
  qmax: f32,
}

@group(0) @binding(0) var<uniform> params: PerChannelParams;
// Per channel: (inv_scale, fround(zero_point), fround(scale), unused).
@group(0) @binding(3) var<storage, read> channel_params: array<vec4<f32>>;

struct ChannelPosition {
  channel: u32,
  offset: u32,   // position within the inner run
}

fn channel_of_vec(v: u32) -> ChannelPosition {
  let position = params.start_inner + 4u * v;
  return ChannelPosition((params.start_channel + position / params.inner) % params.channels,
                         position % params.inner);
}

// The parameters for elements 4v..4v+3, one column per element.
fn channel_params4(v: u32) -> mat4x4<f32> {
  var at = channel_of_vec(v);
  if (at.offset + 3u < params.inner) {
    let p = channel_params[at.channel];
    return mat4x4<f32>(p, p, p, p);
  }
  var columns: mat4x4<f32>;
  for (var j = 0u; j < 4u; j++) {
    columns[j] = channel_params[at.channel];
    at.offset += 1u;
    if (at.offset == params.inner) {
      at.offset = 0u;
      at.channel += 1u;
      if (at.channel == params.channels) { at.channel = 0u; }
    }
  }
  return columns;
}
