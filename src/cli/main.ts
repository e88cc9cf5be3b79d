/**
 * The `webgpu-quant` command (bin/webgpu-quant.mjs runs {@link runFromShell}): compress, inspect and verify
 * models from Node. Exit codes: 0 success, 1 bad input or failed verification (one line naming the file and
 * the problem), 2 usage, 130 / 143 interrupted by SIGINT / SIGTERM (temporary files removed).
 *
 * @example
 * ```ts
 * process.exitCode = await main(['compress', '-o', 'vad.q8.onnx']);
 * ```
 * @module
 */
import { WEBGPU_QUANT_VERSION } from '../compress/version.js';
import { WebGpuQuantError } from '../errors.js';
import { UsageError, parseCommandLine } from './args.js';
import { USAGE } from './flags.js';
import { type CliIo, runCompress } from './compress-command.js';
import { describeFsError, isFsError } from './files.js';
import { runInspect } from './inspect-command.js';
import { installSignalCleanup } from './signals.js';
import { runVerify } from './verify-command.js';

/** Runs the command line `argv` (without node and the script); resolves to the exit code. */
export async function main(argv: string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  try {
    const command = parseCommandLine(argv);
    if (command.command === 'help') {
      io.stdout.write(`${USAGE}\n`);
      return 0;
    }
    if (command.command === 'version') {
      io.stdout.write(`webgpu-quant ${WEBGPU_QUANT_VERSION}\n`);
      return 0;
    }
    if (command.command === 'verify') return await runVerify(command, io);
    return command.command === 'compress' ? await runCompress(command, io) : await runInspect(command, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(error.brief ? `webgpu-quant: ${error.message}\n` : `webgpu-quant: ${error.message}\n${USAGE}\n`);
      return 2;
    }
    if (error instanceof WebGpuQuantError) {
      // Typed errors already name the file and the problem.
      io.stderr.write(`webgpu-quant: ${error.message.split('\n')[0]}\n`);
      return 1;
    }
    if (isFsError(error)) {
      io.stderr.write(`webgpu-quant: ${describeFsError(error, error.path ?? '(file)')}\n`);
      return 1;
    }
    const e = error as Error | undefined;
    io.stderr.write(`webgpu-quant: unexpected error (please report it): ${e?.stack ?? String(error)}\n`);
    return 1;
  }
}

/**
 * The command as the shell runs it: process streams, and SIGINT / SIGTERM remove unfinished output and
 * exit 130 / 143.
 *
 * @example
 * ```ts
 * process.exitCode = await runFromShell(process.argv.slice(2));
 * ```
 */
export async function runFromShell(argv: string[]): Promise<number> {
  const uninstall = installSignalCleanup(process.stderr);
  try {
    return await main(argv);
  } finally {
    uninstall();
  }
}
