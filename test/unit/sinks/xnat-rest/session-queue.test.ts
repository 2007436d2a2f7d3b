import { describe, expect, it } from 'vitest';
import { createSessionQueue } from '../../../../src/sinks/xnat-rest/session-queue.ts';

/** A task that records when it starts and ends, and finishes when told. */
function task(log: string[], name: string): { run: () => Promise<string>; finish: () => void; fail: () => void } {
  let finish = (): void => undefined;
  let fail = (): void => undefined;
  const done = new Promise<string>((resolve, reject) => {
    finish = () => {
      resolve(name);
    };
    fail = () => {
      reject(new Error(`${name} failed`));
    };
  });
  return {
    run: () => {
      log.push(`start ${name}`);
      return done.finally(() => log.push(`end ${name}`));
    },
    finish: () => {
      finish();
    },
    fail: () => {
      fail();
    },
  };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('one upload at a time per XNAT session', () => {
  it('runs the uploads of one session one after another, even after a failure, and other sessions beside them', async () => {
    const q = createSessionQueue();
    const log: string[] = [];
    const a1 = task(log, 'a1');
    const a2 = task(log, 'a2');
    const a3 = task(log, 'a3');
    const b1 = task(log, 'b1');
    const r1 = q.run('P/S/A', a1.run);
    const r2 = q.run('P/S/A', a2.run);
    const r3 = q.run('P/S/A', a3.run);
    const rb = q.run('P/S/B', b1.run);
    await tick();
    expect(log).toEqual(['start a1', 'start b1']);
    a1.fail();
    await expect(r1).rejects.toThrow('a1 failed');
    await tick();
    expect(log.slice(2)).toEqual(['end a1', 'start a2']);
    a2.finish();
    b1.finish();
    await expect(r2).resolves.toBe('a2');
    await expect(rb).resolves.toBe('b1');
    await tick();
    expect(log).toContain('start a3');
    a3.finish();
    await expect(r3).resolves.toBe('a3');
  });
});
