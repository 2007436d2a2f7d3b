// config/default.yaml must state exactly the built-in defaults, so the documented file stays true.
import { describe, expect, it } from 'vitest';
import { buildConfig, loadConfig } from '../../../src/config/load.ts';

describe('config/default.yaml', () => {
  it('is valid and equals the built-in defaults', () => {
    const file = new URL('../../../config/default.yaml', import.meta.url).pathname;
    expect(loadConfig(file, {}, '/srv/gateway')).toEqual(buildConfig({}, {}, '/srv/gateway'));
  });
});
