// scripts/start.sh (the README's start command): the PID it hands out is the server's own, so killing it
// closes the port and leaves no process behind. Runs the real script (it builds the app when demo-dist/ is
// older than its sources) on a free port, with the dependency check skipped: node_modules is already there.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');

/** A port nothing listens on right now. */
function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.on('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}

/** Whether something accepts connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); done(true); });
    socket.once('error', () => done(false));
  });
}

/** The command line of a process, or undefined once it is gone (zombies count as gone). */
function commandLine(pid: number): string | undefined {
  try {
    if (/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))) return undefined;
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return undefined;
  }
}

/** Every process whose parent chain leads to `pid`. */
function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parent.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch { /* the process ended while being read */ }
  }
  const out: number[] = [];
  const walk = (p: number) => { for (const [child, pp] of parent) if (pp === p) { out.push(child); walk(child); } };
  walk(pid);
  return out;
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 100));
  }
}

let started: ChildProcess | undefined;
afterEach(() => {
  // On a failure, stop whatever the script left running (the child and anything under it).
  if (started?.pid === undefined) return;
  for (const p of [...descendants(started.pid), started.pid]) {
    try { process.kill(p, 'SIGKILL'); } catch { /* already gone */ }
  }
});

describe('scripts/start.sh', () => {
  it('serves the app under its own PID; killing that PID closes the port and leaves no process', async () => {
    const port = await freePort();
    const child = spawn('bash', ['scripts/start.sh'], { cwd: root, env: { ...process.env, PORT: String(port), SKIP_INSTALL: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    started = child;
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    child.stderr!.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    const exited = new Promise<void>((done) => child.once('exit', () => done()));
    await waitFor(`the app on port ${port} (output so far: ${output})`, () => listening(port), 150_000);
    expect(output).toContain(`webgpu-quant app: http://127.0.0.1:${port}/`);
    const pid = child.pid!;
    // The script exec'd into the server: the same PID now runs Vite's preview, with no wrapper in between.
    expect(commandLine(pid)).toMatch(/^node \S*node_modules\/vite\/bin\/vite\.js preview /);
    const page = await fetch(`http://127.0.0.1:${port}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<title>webgpu-quant');
    const children = descendants(pid);
    process.kill(pid, 'SIGTERM');
    await exited;
    await waitFor('the port to close', async () => !(await listening(port)), 5_000);
    for (const p of children) expect(commandLine(p), `process ${p} outlived the server`).toBeUndefined();
  }, 180_000);
});
