//! Vitest setup for both projects: a test during which an unhandled rejection or uncaught exception happens fails, and so does one whose spawned daemon crashed.
// Vitest on its own reports such errors once at the end of the run ("Unhandled Errors") and exits
// non-zero, but every test still shows as passed and the error names no test. Issue 18: "an
// unhandled rejection anywhere is a bug that a test would catch" — so we attribute each one to the
// test that was running and fail it (test/integration/setup/fail-on-unhandled.test.ts proves it).
import { afterAll, afterEach } from 'vitest';
import { killSpawned, takeSpawnedProblems } from '../helpers/spawned-daemon.ts';

const KEY = Symbol.for('xnat-gateway.test.unhandled');
type Store = { errors: unknown[] };
const g = globalThis as typeof globalThis & { [KEY]?: Store };
// Once per process, whatever the pool reuses: the listeners stay, each test file shares the store.
let store = g[KEY];
if (!store) {
  const s: Store = { errors: [] };
  process.on('unhandledRejection', (reason) => {
    s.errors.push(reason);
  });
  process.on('uncaughtException', (err) => {
    s.errors.push(err);
  });
  g[KEY] = s;
  store = s;
}
const errors = store.errors;

const describe = (e: unknown): string => (e instanceof Error ? `${e.name}: ${e.message}` : String(e));

afterEach(async () => {
  // A rejection left by the test's last step is reported a turn later: give it that turn.
  await new Promise((r) => setImmediate(r));
  const found = errors.splice(0);
  const spawned = takeSpawnedProblems();
  if (found.length) {
    throw new AggregateError(
      found,
      `${String(found.length)} unhandled rejection(s) or uncaught exception(s) during this test: ${found.map(describe).join('; ')}`,
    );
  }
  if (spawned.length) {
    throw new Error(`A spawned daemon failed during this test: ${spawned.join('; ')}`);
  }
});

// A test that failed half-way must not leave its daemon running on the shared machine.
afterAll(async () => {
  await killSpawned();
});
