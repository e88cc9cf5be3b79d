// Dispatch indexing. Dispatches larger than maxComputeWorkgroupsPerDimension are folded into 2-D by the
// host (x * y >= the workgroups needed); this recovers the linear invocation index.

fn linear_invocation(gid: vec3<u32>, groups: vec3<u32>, workgroup_size: u32) -> u32 {
  return gid.x + gid.y * groups.x * workgroup_size;
}
