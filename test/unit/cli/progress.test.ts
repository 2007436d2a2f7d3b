import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createProgressBar } from '../../../src/cli/progress.ts';

function stream(isTTY: boolean): Writable & { isTTY: boolean; text: () => string } {
  const chunks: string[] = [];
  const w = new Writable({
    write(c: Buffer, _e, done) {
      chunks.push(c.toString());
      done();
    },
  });
  return Object.assign(w, { isTTY, text: () => chunks.join('') });
}

describe('progress bar', () => {
  it('draws on a terminal, ending with the final figures and a newline', () => {
    const s = stream(true);
    const bar = createProgressBar(s);
    bar.update(0, 4, '0 spooled');
    bar.update(4, 4, '4 spooled, 0 rejected');
    bar.done();
    expect(s.text()).toContain('\r[                              ] 0/4 files, 0 spooled');
    expect(s.text()).toContain('[##############################] 4/4 files, 4 spooled, 0 rejected');
    expect(s.text().endsWith('\n')).toBe(true);
  });

  it('stays silent when the output is not a terminal (logs, CI, pipes)', () => {
    const s = stream(false);
    const bar = createProgressBar(s);
    bar.update(1, 2, 'x');
    bar.done();
    expect(s.text()).toBe('');
  });
});
