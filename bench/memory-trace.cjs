// Preloaded into a command (`node --require ./bench/memory-trace.cjs bin/webgpu-quant.mjs compress ...`): traces
// where memory goes, on every thread (Node preloads it into each worker too), on stderr.
//
// - Every MEMORY_TRACE_MS milliseconds (default 200), one line a thread: `mem t<thread> <ms> rss=<MiB>
//   heap=<MiB> ab=<MiB>` (the process' resident set, the thread's V8 heap in use and its live ArrayBuffers).
//   A resident set that climbs while the live arrays stay flat is memory freed into an allocator arena,
//   not memory held (docs/performance.md, "Parameters and scratch kept from weight to weight").
// - With MEMORY_TRACE_ALLOC=1, typed arrays and ArrayBuffers of 128 KiB or more made with `new`, and
//   WebAssembly memory growth, are counted by the stack that made them; each thread prints its top 20 (count,
//   MiB, stack) every second, and the calling thread at exit. Counting wraps the constructors in Proxies
//   (instanceof still holds): for tracing only, never for timing.
'use strict';
const { isMainThread, threadId } = require('node:worker_threads');

const started = Date.now();
const every = Number(process.env.MEMORY_TRACE_MS ?? 200);
const mib = (bytes) => (bytes / 2 ** 20).toFixed(0);
const write = (text) => process.stderr.write(text);

const sample = setInterval(() => {
  const m = process.memoryUsage();
  write(`mem t${threadId} ${Date.now() - started} rss=${mib(m.rss)} heap=${mib(m.heapUsed)} ab=${mib(m.arrayBuffers)}\n`);
}, every);
sample.unref();

if (process.env.MEMORY_TRACE_ALLOC === '1') {
  const counts = new Map();
  const note = (kind, bytes) => {
    if (bytes < 131072) return;
    const stack = new Error().stack.split('\n').slice(3, 7).map((line) => line.trim().replace(/^at /, '')).join(' < ');
    const key = `${kind} ${stack}`;
    const count = counts.get(key) ?? [0, 0];
    count[0]++;
    count[1] += bytes;
    counts.set(key, count);
  };
  const isBuffer = (x) => x instanceof ArrayBuffer || (typeof SharedArrayBuffer === 'function' && x instanceof SharedArrayBuffer);
  for (const name of ['ArrayBuffer', 'Float32Array', 'Float64Array', 'Int32Array', 'Uint32Array', 'Uint8Array', 'Int8Array', 'Uint16Array', 'Int16Array']) {
    const Original = globalThis[name];
    globalThis[name] = new Proxy(Original, {
      construct(target, args, newTarget) {
        const made = Reflect.construct(target, args, newTarget === globalThis[name] ? target : newTarget);
        if (!isBuffer(args[0])) note(name, made.byteLength); // a view of existing memory allocates nothing
        return made;
      },
    });
  }
  const grow = WebAssembly.Memory.prototype.grow;
  WebAssembly.Memory.prototype.grow = function (pages) {
    note('WebAssembly.Memory.grow', pages * 65536);
    return grow.call(this, pages);
  };
  const report = () => {
    const top = [...counts].sort((a, b) => b[1][1] - a[1][1]).slice(0, 20);
    write(`alloc t${threadId}\n${top.map(([key, [n, bytes]]) => `  ${n}x ${mib(bytes)} MiB ${key}`).join('\n')}\n`);
  };
  if (isMainThread) process.on('exit', report);
  else setInterval(report, 1000).unref();
}
