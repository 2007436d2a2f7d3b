//! The connection watchdog: ARTIM, idle timeout, minimum receive rate and close grace, on the fake clock.
import { describe, expect, it } from 'vitest';
import { createWatchdog, type Expiry } from '../../../../src/sources/dimse/watchdog.ts';
import { createFakeClock } from '../../../helpers/fake-clock.ts';

function setup(min = 1000) {
  const clock = createFakeClock();
  const fired: [Expiry, number, number][] = [];
  const t0 = clock.now();
  const w = createWatchdog({
    clock,
    artimMs: 30_000,
    idleMs: 120_000,
    minBytesPerWindow: min,
    windowMs: 10_000,
    closeGraceMs: 2000,
    onExpire: (e, bytes) => fired.push([e, bytes, clock.now() - t0]),
  });
  return { clock, w, fired };
}

describe('connection watchdog', () => {
  it('drops a connection that has not negotiated within ARTIM of its connect, however many bytes trickle in', () => {
    const { clock, w, fired } = setup();
    w.phase('negotiating');
    for (let s = 0; s < 29; s++) {
      clock.advance(1000);
      w.received(1);
      w.phase('negotiating');
    }
    expect(fired).toEqual([]);
    clock.advance(1000);
    expect(fired).toEqual([['artim', 0, 30_000]]);
  });

  it('aborts an idle association after the idle timeout, each byte moving the deadline', () => {
    const { clock, w, fired } = setup();
    w.phase('idle');
    clock.advance(100_000);
    w.received(10);
    clock.advance(100_000);
    expect(fired).toEqual([]);
    clock.advance(20_000);
    expect(fired).toEqual([['idle', 0, 220_000]]);
  });

  it('drops a 1 byte/s trickle inside a PDU after one 10 s window', () => {
    const { clock, w, fired } = setup(1000);
    w.phase('receiving');
    for (let s = 0; s < 10; s++) {
      w.received(1);
      clock.advance(1000);
    }
    expect(fired).toEqual([['slow', 10, 10_000]]);
  });

  it('keeps a sender that brings the minimum in every window', () => {
    const { clock, w, fired } = setup(1000);
    w.phase('receiving');
    for (let s = 0; s < 600; s++) {
      w.received(100);
      clock.advance(1000);
    }
    expect(fired).toEqual([]);
  });

  it('starts a fresh window after our own turn (disk back-pressure, storing) and never blames the peer for it', () => {
    const { clock, w, fired } = setup(1000);
    w.phase('receiving');
    clock.advance(9000);
    w.phase('ours');
    clock.advance(600_000);
    expect(fired).toEqual([]);
    w.phase('receiving');
    w.received(2000);
    clock.advance(9999);
    expect(fired).toEqual([]);
    clock.advance(10_001);
    expect(fired.map((f) => f[0])).toEqual(['slow']);
  });

  it('with the rate check off, a partly received message falls under the idle timeout', () => {
    const { clock, w, fired } = setup(0);
    w.phase('receiving');
    clock.advance(119_999);
    expect(fired).toEqual([]);
    clock.advance(1);
    expect(fired.map((f) => f[0])).toEqual(['idle']);
  });

  it('gives the peer the close grace after our last PDU, and nothing after stop()', () => {
    const { clock, w, fired } = setup();
    w.phase('closing');
    clock.advance(2000);
    expect(fired.map((f) => f[0])).toEqual(['closing']);
    const b = setup();
    b.w.phase('negotiating');
    b.w.stop();
    b.clock.advance(60_000);
    expect(b.fired).toEqual([]);
    expect(b.clock.pending).toBe(0);
  });

  it('re-arms nothing while the phase stays the same', () => {
    const { clock, w } = setup();
    w.phase('idle');
    for (let i = 0; i < 1000; i++) {
      w.phase('idle');
    }
    expect(clock.pending).toBe(1);
  });
});
