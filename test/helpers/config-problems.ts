//! Runs a config build that must fail and returns its problem list (each naming its key).
import { expect } from 'vitest';
import { ConfigError } from '../../src/config/load.ts';

export function problemsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('Expected a ConfigError, but the config was accepted.');
}
