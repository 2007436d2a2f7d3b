import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../src/errors.ts';
import { createEvents } from '../../../src/events.ts';
import { createDeliveryHealth } from '../../../src/status/delivery-health.ts';
import { createFakeClock } from '../../helpers/fake-clock.ts';

describe('delivery health', () => {
  const job = { jobId: 1, seriesId: 1, sink: 'xnat-rest', attempt: 1, stage: 'transforming' as const };

  it('is degraded by an unexpected error (e.g. a module missing from the install) until the sink delivers again', () => {
    const events = createEvents();
    const clock = createFakeClock(1_000);
    const h = createDeliveryHealth(events, clock);
    expect(h.status()).toEqual({ status: 'ok', reasons: [] });
    events.emit('job.retrying', {
      ...job,
      code: ErrorCode.JOB_UNEXPECTED,
      runAt: 0,
      error: "Error: Cannot find module 'dcmjs'",
    });
    clock.advance(5_000);
    events.emit('job.failed', {
      ...job,
      jobId: 2,
      code: ErrorCode.JOB_UNEXPECTED,
      error: "Error: Cannot find module 'dcmjs'",
    });
    expect(h.status()).toEqual({
      status: 'degraded',
      reasons: [
        {
          sink: 'xnat-rest',
          code: 'ERR_JOB_UNEXPECTED',
          stage: 'transforming',
          error: "Error: Cannot find module 'dcmjs'",
          since: 1_000,
          failures: 2,
        },
      ],
    });
    events.emit('job.succeeded', { jobId: 3, seriesId: 2, sink: 'xnat-rest', attempt: 1, durationMs: 5 });
    expect(h.status().status).toBe('ok');
    h.close();
  });

  it('is not degraded by failures that time cures (XNAT down, a conflict for one series)', () => {
    const events = createEvents();
    const h = createDeliveryHealth(events, createFakeClock(0));
    events.emit('job.retrying', { ...job, code: ErrorCode.XNAT_UNAVAILABLE, runAt: 0 });
    events.emit('job.failed', { ...job, code: ErrorCode.XNAT_CONFLICT });
    expect(h.status().status).toBe('ok');
    events.emit('job.retrying', { ...job, code: ErrorCode.XNAT_AUTH, runAt: 0 });
    expect(h.status().reasons.map((r) => r.code)).toEqual(['ERR_XNAT_AUTH']);
  });
});
