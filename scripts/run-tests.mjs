// Runs vitest (every project) and ends the output with one line counted from vitest's own JSON report:
// "N passed, N failed" (", N skipped" when any were skipped). Exits with vitest's exit code.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';

const report = 'test-artifacts/vitest-report.json';
mkdirSync('test-artifacts', { recursive: true });
rmSync(report, { force: true });
const run = spawnSync('npx', ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...process.argv.slice(2)],
  { stdio: 'inherit' });
let passed = 0;
let failed = 0;
let skipped = 0;
if (existsSync(report)) {
  const json = JSON.parse(readFileSync(report, 'utf8'));
  passed = json.numPassedTests;
  failed = json.numFailedTests;
  skipped = json.numPendingTests + json.numTodoTests;
  // A file that failed to load has no tests to count: count it as a failure, never as nothing.
  failed += json.testResults.filter((file) => file.status === 'failed' && file.assertionResults.length === 0).length;
} else {
  failed = 1;
  console.error(`vitest wrote no report (${report}); counting the run as failed`);
}
const code = run.status ?? 1;
if (code !== 0 && failed === 0) failed = 1;
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(code);
