//! The lifecycle half of a test sink: a hand-written fake spreads this and adds `id`, `deliver` and `healthcheck`.
import type { Lifecycle } from '../../src/contracts/lifecycle.ts';

export const lifecycleStub: Omit<Lifecycle, 'id'> = {
  type: 'test',
  start: () => Promise.resolve(),
  stop: () => Promise.resolve(),
  ready: () => ({ ready: true }),
  describe: () => ({}),
};
