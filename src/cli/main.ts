/**
 * The `webgpu-quant` command (bin/webgpu-quant.mjs runs it): compress, inspect and verify models from Node.
 * Exit codes: 0 success, 1 bad input or failed verification (one line naming the file and the problem), 2 usage.
 *
 * @example
 * ```ts
 * process.exitCode = await main(['compress', '-o', 'vad.q8.onnx']);
 * ```
 * @module
 */
import { WebGpuQuantError } from '../errors.js';
import { USAGE, UsageError, parseCommandLine } from './args.js';
import { type CliIo, runCompress } from './compress-command.js';
import { runInspect } from './inspect-command.js';
import { runVerify } from './verify-command.js';

/** Runs the command line `argv` (without node and the script); resolves to the exit code. */
export async function main(argv: string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  try {
    const command = parseCommandLine(argv);
    if (command.command === 'help') {
      io.stdout.write(`${USAGE}\n`);
      return 0;
    }
    if (command.command === 'verify') return await runVerify(command, io);
    return command.command === 'compress' ? await runCompress(command, io) : await runInspect(command, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`webgpu-quant: ${error.message}\n${USAGE}\n`);
      return 2;
    }
    const e = error as NodeJS.ErrnoException;
    if (error instanceof WebGpuQuantError || (typeof e?.code === 'string' && typeof e.path === 'string')) {
      // Typed errors and file-system errors already name the file and the problem.
      io.stderr.write(`webgpu-quant: ${e.message.split('\n')[0]}\n`);
      return 1;
    }
    io.stderr.write(`webgpu-quant: unexpected error (please report it): ${e?.stack ?? String(error)}\n`);
    return 1;
  }
}
