//! Per-source receive rates (instances/s, bytes/s) over a sliding window of one-second buckets.
// A fixed ring per source keeps memory constant however fast instances arrive; a slot is reused
// once its second has left the window, so nothing needs a timer to expire old buckets.
import type { Clock } from '../clock.ts';
import type { DaemonEvents, SourceId } from '../events.ts';

const SOURCES: readonly SourceId[] = ['dimse', 'folder', 'stow'];

/** Average rates over the window, per second. */
export interface Rate { instancesPerSecond: number; bytesPerSecond: number }
export interface RateSnapshot { windowSeconds: number; sources: Record<SourceId, Rate> }

export interface RateTracker {
  /** Counts one received instance of `bytes` at the clock's current time. */
  record(source: SourceId, bytes: number): void;
  /** Feeds `record` from 'instance.received'; returns the unsubscribe function. */
  subscribe(events: DaemonEvents): () => void;
  snapshot(): RateSnapshot;
}

interface Ring { seconds: Float64Array; instances: Float64Array; bytes: Float64Array }

/**
 * @param windowMs sliding window length in ms (default 60 000), rounded up to whole seconds, min 1 s.
 */
export function createRateTracker(clock: Clock, windowMs = 60_000): RateTracker {
  const size = Math.max(1, Math.ceil(windowMs / 1000));
  const rings = new Map<SourceId, Ring>();
  for (const s of SOURCES) {
    // -1 marks a slot that has never held a second, so epoch second 0 cannot be mistaken for it.
    rings.set(s, { seconds: new Float64Array(size).fill(-1), instances: new Float64Array(size), bytes: new Float64Array(size) });
  }

  const record = (source: SourceId, bytes: number): void => {
    const ring = rings.get(source);
    if (!ring) {return;}
    const sec = Math.floor(clock.now() / 1000);
    const i = sec % size;
    if (ring.seconds[i] !== sec) {
      ring.seconds[i] = sec;
      ring.instances[i] = 0;
      ring.bytes[i] = 0;
    }
    ring.instances[i] = (ring.instances[i] ?? 0) + 1;
    ring.bytes[i] = (ring.bytes[i] ?? 0) + bytes;
  };

  return {
    record,
    subscribe(events) {
      return events.on('instance.received', (e) => {
        record(e.source, e.bytes);
      });
    },
    snapshot() {
      const now = Math.floor(clock.now() / 1000);
      const sources = {} as Record<SourceId, Rate>;
      for (const [source, ring] of rings) {
        let instances = 0;
        let bytes = 0;
        for (let i = 0; i < size; i++) {
          const sec = ring.seconds[i] ?? -1;
          if (sec > now - size && sec <= now) {
            instances += ring.instances[i] ?? 0;
            bytes += ring.bytes[i] ?? 0;
          }
        }
        sources[source] = { instancesPerSecond: instances / size, bytesPerSecond: bytes / size };
      }
      return { windowSeconds: size, sources };
    },
  };
}
