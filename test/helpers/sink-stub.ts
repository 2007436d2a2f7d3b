//! The lifecycle half of a test sink or transform: a hand-written fake spreads this and adds its `id` and its work.
import type { Lifecycle } from '../../src/contracts/lifecycle.ts';

export const lifecycleStub: Omit<Lifecycle, 'id'> = {
  type: 'test',
  start: () => Promise.resolve(),
  stop: () => Promise.resolve(),
  ready: () => ({ ready: true }),
  describe: () => ({}),
};
