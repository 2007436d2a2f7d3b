// The daemon's start/stop list: order, reverse order, and what a failed start leaves running.
import { describe, expect, it } from 'vitest';
import { createServiceList, type Service } from '../../../src/app/services.ts';
import { createLogger } from '../../../src/log.ts';

const log = createLogger('silent');

function recorder(): {
  calls: string[];
  svc: (name: string, o?: { failStart?: boolean; failStop?: boolean; noStart?: boolean }) => Service;
} {
  const calls: string[] = [];
  return {
    calls,
    svc: (name, o = {}) => ({
      name,
      ...(o.noStart
        ? {}
        : {
            start: () => {
              calls.push(`start ${name}`);
              if (o.failStart) {
                throw new Error(`${name} cannot start`);
              }
            },
          }),
      stop: () => {
        calls.push(`stop ${name}`);
        if (o.failStop) {
          throw new Error(`${name} cannot stop`);
        }
      },
    }),
  };
}

describe('createServiceList', () => {
  it('starts in order and stops in reverse', async () => {
    const { calls, svc } = recorder();
    const list = createServiceList([svc('db', { noStart: true }), svc('worker'), svc('source')], log);
    expect(list.names).toEqual(['db', 'worker', 'source']);
    await list.start();
    await list.stop();
    expect(calls).toEqual(['start worker', 'start source', 'stop source', 'stop worker', 'stop db']);
    await list.stop();
    expect(calls).toHaveLength(5);
  });

  it('undoes what started when a start fails, and rethrows that failure', async () => {
    const { calls, svc } = recorder();
    const list = createServiceList(
      [svc('db', { noStart: true }), svc('worker'), svc('http', { failStart: true }), svc('source')],
      log,
    );
    await expect(list.start()).rejects.toThrow('http cannot start');
    expect(calls).toEqual(['start worker', 'start http', 'stop worker', 'stop db']);
    await list.stop();
    expect(calls).toHaveLength(4);
  });

  it('releases what was built even when start never ran', async () => {
    const { calls, svc } = recorder();
    await createServiceList([svc('db', { noStart: true }), svc('worker')], log).stop();
    expect(calls).toEqual(['stop db']);
  });

  it('keeps stopping after a failing stop and rethrows the first failure', async () => {
    const { calls, svc } = recorder();
    const list = createServiceList(
      [svc('db', { noStart: true }), svc('a', { failStop: true }), svc('b', { failStop: true })],
      log,
    );
    await list.start();
    await expect(list.stop()).rejects.toThrow('b cannot stop');
    expect(calls.slice(2)).toEqual(['stop b', 'stop a', 'stop db']);
  });
});
