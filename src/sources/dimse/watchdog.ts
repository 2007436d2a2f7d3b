//! The deadlines of one DICOM connection: ARTIM, idle, a minimum receive rate, and the close grace.
// One timer per connection, re-armed only when the connection changes phase, so a busy
// association costs no timer work per PDU. Whose turn it is decides which deadline runs:
// - negotiating: the peer has ARTIM (from the TCP connect) to get its A-ASSOCIATE-RQ across;
// - idle (between messages): no byte for `idleMs` ends the association;
// - receiving (a PDU or DIMSE message partly received): each `windowMs` window must bring at least
//   `minBytesPerWindow` bytes, so a 1 byte/s trickle cannot hold a slot (an idle timer is reset by
//   every byte and would never fire);
// - ours (we are storing, answering, or waiting for the disk): no deadline for the peer;
// - closing (we sent A-ASSOCIATE-RJ, A-RELEASE-RP or A-ABORT): the peer has `closeGraceMs` to close.
import type { Clock } from '../../clock.ts';

export type Phase = 'negotiating' | 'idle' | 'receiving' | 'ours' | 'closing';
export type Expiry = 'artim' | 'idle' | 'slow' | 'closing';

export interface WatchdogOptions {
  readonly clock: Clock;
  readonly artimMs: number;
  readonly idleMs: number;
  /** 0 disables the rate check (a partly received message then falls under the idle timeout). */
  readonly minBytesPerWindow: number;
  readonly windowMs: number;
  readonly closeGraceMs: number;
  /** Called once per expiry; `bytes` is what the last window brought (for 'slow'). */
  readonly onExpire: (e: Expiry, bytes: number) => void;
}

export interface Watchdog {
  phase(p: Phase): void;
  /** Bytes just arrived from the peer. */
  received(n: number): void;
  stop(): void;
}

export function createWatchdog(o: WatchdogOptions): Watchdog {
  const { clock } = o;
  const startedAt = clock.now();
  let current: Phase | null = null;
  let timer: { cancel(): void } | null = null;
  let lastByteAt = startedAt;
  let windowBytes = 0;
  let stopped = false;

  function arm(ms: number, fn: () => void): void {
    timer?.cancel();
    timer = clock.setTimeout(
      () => {
        timer = null;
        if (!stopped) {
          fn();
        }
      },
      Math.max(0, ms),
    );
  }

  function armIdle(): void {
    arm(lastByteAt + o.idleMs - clock.now(), () => {
      // Bytes since the timer was armed move the deadline instead of re-arming on every chunk.
      if (clock.now() - lastByteAt >= o.idleMs) {
        o.onExpire('idle', 0);
      } else {
        armIdle();
      }
    });
  }

  function armWindow(): void {
    windowBytes = 0;
    arm(o.windowMs, () => {
      if (windowBytes < o.minBytesPerWindow) {
        o.onExpire('slow', windowBytes);
      } else {
        armWindow();
      }
    });
  }

  return {
    phase(p) {
      if (stopped || p === current) {
        return;
      }
      current = p;
      switch (p) {
        case 'negotiating':
          arm(startedAt + o.artimMs - clock.now(), () => {
            o.onExpire('artim', 0);
          });
          return;
        case 'idle':
          armIdle();
          return;
        case 'receiving':
          if (o.minBytesPerWindow > 0) {
            armWindow();
          } else {
            armIdle();
          }
          return;
        case 'ours':
          timer?.cancel();
          timer = null;
          return;
        case 'closing':
          arm(o.closeGraceMs, () => {
            o.onExpire('closing', 0);
          });
          return;
      }
    },
    received(n) {
      lastByteAt = clock.now();
      windowBytes += n;
    },
    stop() {
      stopped = true;
      timer?.cancel();
      timer = null;
    },
  };
}
