//! What the daemon does with its own events besides /status and /metrics: log lines and audit rows.
import type { Clock } from '../clock.ts';
import type { DaemonEvents } from '../events.ts';
import type { Logger } from '../log.ts';
import type { AuditLog } from '../store/audit.ts';
import type { WriteLater } from '../store/write-later.ts';

/** Subscribes the log and audit observers; returns the function that unsubscribes them all. */
export function observeEvents(o: {
  events: DaemonEvents;
  log: Logger;
  audit: AuditLog;
  clock: Clock;
  /** The audit row must be written, but the event has nobody to report a failure to (full disk). */
  later: WriteLater;
}): () => void {
  const { events, log } = o;
  const offs = [
    events.on('sink.circuit', (e) => {
      if (e.state === 'open') {
        log.warn(
          { sink: e.sink, code: e.code, error: e.error },
          'Sink circuit opened; its jobs wait for the next probe.',
        );
      } else {
        log.info(
          { sink: e.sink, state: e.state },
          e.state === 'closed' ? 'Sink circuit closed; deliveries resume.' : 'Sink circuit half-open; probing.',
        );
      }
    }),
    // The audit trail of what was de-identified, with which profile and key (no patient data).
    events.on('series.anonymised', (e) => {
      const { seriesId, ...detail } = e;
      const at = o.clock.now();
      o.later.run('audit series.anonymised', () => o.audit.record('series.anonymised', seriesId, detail, at));
    }),
    events.on('series.state', (e) => {
      log.info({ seriesId: e.seriesId, batch: e.batch, from: e.from, to: e.to }, 'Series state changed.');
    }),
  ];
  return () => {
    for (const off of offs) {
      off();
    }
  };
}
