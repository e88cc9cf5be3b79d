// Preloaded by bench/cli-big-model.mjs (`node --import`): prints the process' peak resident memory (kilobytes,
// every thread included) on stderr as it exits.
import { writeSync } from 'node:fs';

process.on('exit', () => writeSync(2, `maxrss ${process.resourceUsage().maxRSS}\n`));
