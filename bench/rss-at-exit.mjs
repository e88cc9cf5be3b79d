// Preloaded by bench/cli-big-model.mjs (`node --import`): prints the process' peak resident memory (kilobytes,
// every thread included) on stderr as it exits. On Linux from /proc/self/status (VmHWM, the peak of this program's
// own memory): resourceUsage().maxRSS keeps the peak from before exec, and a child forked from a parent holding
// 600 MiB reported 618 MiB there against 40 MiB in VmHWM. Elsewhere maxRSS, with that caveat.
import { readFileSync, writeSync } from 'node:fs';

/** VmHWM in kilobytes, or undefined where /proc is not there. */
function peakFromProc() {
  try {
    const match = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

process.on('exit', () => writeSync(2, `maxrss ${peakFromProc() ?? process.resourceUsage().maxRSS}\n`));
