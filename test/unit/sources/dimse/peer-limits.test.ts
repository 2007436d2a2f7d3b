//! Per-address and global connection counts.
import { describe, expect, it } from 'vitest';
import { createPeerLimits, peerKey } from '../../../../src/sources/dimse/peer-limits.ts';
import { createLogThrottle } from '../../../../src/sources/dimse/log-throttle.ts';
import { createFakeClock } from '../../../helpers/fake-clock.ts';

describe('peer limits', () => {
  it('closes connections beyond the per-address pending limit, leaving other addresses alone', () => {
    const l = createPeerLimits({ maxConnections: 100, maxPendingPerPeer: 2 });
    expect(l.admit('10.0.0.2')).toBeNull();
    expect(l.admit('10.0.0.2')).toBeNull();
    expect(l.admit('10.0.0.2')).toMatch(/maxPendingPerPeer/);
    expect(l.admit('10.0.0.1')).toBeNull();
    expect(l.connections).toBe(3);
  });

  it('frees a pending slot once the connection associates, and counts associations per address', () => {
    const l = createPeerLimits({ maxConnections: 100, maxPendingPerPeer: 1 });
    expect(l.admit('10.0.0.2')).toBeNull();
    l.associated('10.0.0.2');
    expect(l.admit('10.0.0.2')).toBeNull();
    l.associated('10.0.0.2');
    expect(l.associationsOf('10.0.0.2')).toBe(2);
    expect(l.associationsOf('10.0.0.1')).toBe(0);
    expect(l.associations).toBe(2);
    l.release('10.0.0.2', true);
    expect(l.associationsOf('10.0.0.2')).toBe(1);
    expect(l.associations).toBe(1);
    expect(l.connections).toBe(1);
  });

  it('puts an association refused while it was being accepted back among the pending connections', () => {
    const l = createPeerLimits({ maxConnections: 100, maxPendingPerPeer: 1 });
    expect(l.admit('10.0.0.2')).toBeNull();
    l.associated('10.0.0.2');
    l.notAssociated('10.0.0.2');
    expect(l.associations).toBe(0);
    expect(l.associationsOf('10.0.0.2')).toBe(0);
    expect(l.admit('10.0.0.2')).toMatch(/maxPendingPerPeer/);
    l.release('10.0.0.2', false);
    expect(l.connections).toBe(0);
  });

  it('closes connections beyond the global limit', () => {
    const l = createPeerLimits({ maxConnections: 2, maxPendingPerPeer: 10 });
    expect(l.admit('a')).toBeNull();
    expect(l.admit('b')).toBeNull();
    expect(l.admit('c')).toMatch(/maxConnections/);
    l.release('a', false);
    expect(l.admit('c')).toBeNull();
  });

  it('counts IPv4-mapped IPv6 addresses as their IPv4 address', () => {
    expect(peerKey('::ffff:10.1.2.3')).toBe('10.1.2.3');
    expect(peerKey('fd00::1')).toBe('fd00::1');
  });
});

describe('log throttle', () => {
  it('lets one line per key and window through and counts the others', () => {
    const clock = createFakeClock();
    const t = createLogThrottle(clock, 10_000);
    expect(t.take('a')).toEqual({ log: true, suppressed: 0 });
    expect(t.take('a')).toEqual({ log: false, suppressed: 1 });
    expect(t.take('a')).toEqual({ log: false, suppressed: 2 });
    expect(t.take('b')).toEqual({ log: true, suppressed: 0 });
    clock.advance(10_000);
    expect(t.take('a')).toEqual({ log: true, suppressed: 2 });
    expect(t.take('a')).toEqual({ log: false, suppressed: 1 });
  });
});
