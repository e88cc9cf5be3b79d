#!/usr/bin/env node
// The webgpu-quant command line: compress, inspect and verify models. See `webgpu-quant --help`.
// protobufjs 6 (under onnx-proto) calls the deprecated Buffer(): keep that warning out of the output.
process.noDeprecation = true;
// Output piped into `head` and the like: stop quietly when the reader goes away.
process.stdout.on('error', (error) => { if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0); else throw error; });
const { runFromShell } = await import('../dist/cli.js');
process.exitCode = await runFromShell(process.argv.slice(2));
