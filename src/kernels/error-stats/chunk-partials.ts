/**
 * The host's half of the error-statistics kernel's output: the partial sums each lane of a chunk wrote, added
 * into their buckets (per tensor, channel or group) in a fixed order, so that the statistics are the same on
 * every run.
 *
 * @example
 * ```ts
 * run.read(partials, bytes, (mapped) => addChunkPartials(mapped, plan, chunk, channelMap, perChannel, overall));
 * ```
 * @module
 */
import type { BucketSums } from '../../stats/bucket-sums.js';
import type { IndexMap } from '../../stats/index-map.js';
import { PARTIAL_WORDS } from './error-stats-shader.js';
import type { PlannedChunk, TilePlan } from './error-stats-plan.js';

/**
 * Adds the partials one chunk's dispatch wrote (`PARTIAL_WORDS` words per lane and component, lanes in tile
 * order, `plan.unit` components each) into their buckets, in that order, and into `overall` when given. A
 * partial's bucket is that of its lane's first element (component `c`: that element + c).
 *
 * @example
 * ```ts
 * run.read(partials, bytes, (mapped) => addChunkPartials(mapped, plan, chunk, channelMap, perChannel, overall));
 * ```
 */
export function addChunkPartials(
  bytes: ArrayBuffer, plan: TilePlan, chunk: PlannedChunk, bucketMap: IndexMap, sums: BucketSums, overall?: BucketSums,
): void {
  const unit = plan.unit;
  const width = plan.width;
  const lanes = chunk.tileCount * width;
  const words = new Uint32Array(bytes, 0, lanes * unit * PARTIAL_WORDS);
  const floats = new Float32Array(bytes, 0, lanes * unit * PARTIAL_WORDS);
  const { inner, axisLen, groupSize, strideOuter, strideGroup, strideInner } = bucketMap;
  // Plain arguments, not a spread tuple: the tuple was 8 MiB of garbage a weight of 16M elements. A tile's partials
  // are those of consecutive elements, (tileStart + lane) * unit + c: their buckets come from an odometer over
  // indexOf's [outer, axis, inner] position, set up by indexOf's divisions once a tile (five divisions a partial
  // were most of its time).
  for (let tile = 0; tile < chunk.tileCount; tile++) {
    const first = (chunk.start + chunk.tiles[2 * tile]!) * unit;
    let k = first % inner;
    const row = Math.floor(first / inner);
    let a = row % axisLen;
    let o = Math.floor(row / axisLen);
    let g = Math.floor(a / groupSize);
    let inGroup = a - g * groupSize;
    for (let p = 0, at = tile * width * unit * PARTIAL_WORDS; p < width * unit; p++, at += PARTIAL_WORDS) {
      const count = words[at + 7]!;
      if (count !== 0) { // else a lane past the end of a short tile
        const maxAbs = floats[at + 4]!;
        const clipped = words[at + 5]!;
        const nonFinite = words[at + 6]!;
        sums.addPartial(o * strideOuter + g * strideGroup + k * strideInner, floats, at, maxAbs, clipped, nonFinite, count);
        overall?.addPartial(0, floats, at, maxAbs, clipped, nonFinite, count);
      }
      if (++k === inner) {
        k = 0;
        if (++a === axisLen) {
          a = 0;
          g = 0;
          inGroup = 0;
          o++;
        } else if (++inGroup === groupSize) {
          inGroup = 0;
          g++;
        }
      }
    }
  }
}
