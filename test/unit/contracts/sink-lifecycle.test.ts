// The lifecycle every sink shares: start sweeps and checks but never throws (deliveries retry), and
// /status's ready follows the health as last seen: a failed start-up check, then each delivery.
import { describe, expect, it } from 'vitest';
import { sinkLifecycle, type SinkParts } from '../../../src/contracts/sink-lifecycle.ts';
import type { Delivery } from '../../../src/contracts/component.ts';
import { DaemonError, ErrorCode } from '../../../src/errors.ts';
import { createEvents } from '../../../src/events.ts';
import { createLogger } from '../../../src/log.ts';
import { systemClock } from '../../../src/clock.ts';
import { Writable } from 'node:stream';

function harness(o: { healthy: () => boolean; recovered?: number; answers?: Delivery[] }) {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, done) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) {
        lines.push(JSON.parse(l) as Record<string, unknown>);
      }
      done();
    },
  });
  const calls: string[] = [];
  const answers = [...(o.answers ?? [])];
  const parts: SinkParts = {
    type: 'folder',
    id: 'folder',
    describe: () => ({ path: '/srv/outbox' }),
    healthcheck: () => {
      calls.push('healthcheck');
      return o.healthy()
        ? Promise.resolve()
        : Promise.reject(
            new DaemonError(ErrorCode.SINK_WRITE, 'Folder sink path is not a writable directory (EACCES).', {
              stage: 'starting',
              retryable: false,
            }),
          );
    },
    deliver: () => Promise.resolve(answers.shift() ?? { outcome: 'delivered', receipt: 'r' }),
    recover: () => {
      calls.push('recover');
      return Promise.resolve(o.recovered ?? 0);
    },
  };
  const built = sinkLifecycle(parts, { log: createLogger('info', sink), clock: systemClock, events: createEvents() });
  return { built, calls, lines };
}

describe('sink lifecycle', () => {
  it('sweeps before it checks, and a failed check is shown, logged and not thrown', async () => {
    const h = harness({ healthy: () => false, recovered: 2 });
    await expect(h.built.start()).resolves.toBeUndefined();
    expect(h.calls).toEqual(['recover', 'healthcheck']);
    expect(h.built.ready()).toEqual({
      ready: false,
      reason: 'ERR_SINK_WRITE: Folder sink path is not a writable directory (EACCES).',
    });
    expect(h.lines.map((l) => l.msg)).toEqual([
      'Removed what a killed delivery left behind.',
      'Sink healthcheck failed; deliveries will retry.',
    ]);
    expect(h.built.describe()).toEqual({ path: '/srv/outbox' });
  });

  it("follows the deliveries: the sink's own fault makes it not ready, a delivery ready again, a refused series neither", async () => {
    const h = harness({
      healthy: () => true,
      answers: [
        { outcome: 'retry', reason: 'XNAT at https://x is not reachable.', sinkFault: 'unavailable' },
        { outcome: 'rejected', code: ErrorCode.DICOM_UNPARSABLE, reason: 'bad data' },
        { outcome: 'delivered', receipt: 'ok' },
      ],
    });
    await h.built.start();
    expect(h.built.ready()).toEqual({ ready: true });
    const snapshot = { instances: [] } as never;
    const job = {} as never;
    await h.built.deliver(snapshot, job);
    expect(h.built.ready()).toEqual({ ready: false, reason: 'XNAT at https://x is not reachable.' });
    await h.built.deliver(snapshot, job);
    expect(h.built.ready().ready).toBe(false);
    await h.built.deliver(snapshot, job);
    expect(h.built.ready()).toEqual({ ready: true });
    await h.built.stop();
    await h.built.stop();
  });
});
