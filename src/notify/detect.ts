//! Turns daemon events and periodic checks into notices: one per event, one open and one recovered per condition.
// Conditions (a sink's circuit not closed for circuitOpenMs, the disk below its watermark, a
// refused rules edit) are tracked here, so however long they last they give exactly one "open"
// and one "recovered". Only ids, sinks, projects, rule ids, codes and sizes go into the words.
import type { Clock } from '../clock.ts';
import type { DaemonEvents } from '../events.ts';
import type { Notice } from './notice.ts';

export interface DetectorDeps {
  readonly events: DaemonEvents;
  readonly clock: Clock;
  readonly circuitOpenMs: number;
  /** Free bytes and the watermark below which ingest is refused. */
  readonly disk: () => Promise<{ readonly freeBytes: number; readonly minFreeBytes: number }>;
  /** The last refused rules reload (null: the last reload worked, or routing is off). */
  readonly rulesError: () => { readonly at: number; readonly problems: readonly string[] } | null;
  /** Recent import-folder drops (newest first), or null when the folder is off. */
  readonly drops: () => Promise<
    | readonly {
        readonly id: number;
        readonly state: string;
        readonly filesTotal: number;
        readonly filesRejected: number;
      }[]
    | null
  >;
  readonly emit: (n: Notice) => void;
}

export interface Detector {
  /** Subscribes at once; resolves when the drops finished before start-up are known. */
  start(): Promise<void>;
  /** Checks the conditions now (the notifier calls it every checkIntervalMs). */
  check(): Promise<void>;
  stop(): void;
}

const GiB = 1024 ** 3;
const gib = (n: number): string => `${(n / GiB).toFixed(1)} GiB`;

export function createDetector(d: DetectorDeps): Detector {
  const { clock } = d;
  const notice = (n: Omit<Notice, 'at'>): void => {
    d.emit({ ...n, at: clock.now() });
  };
  /** Sinks whose circuit is not closed: since when, and whether "open" was sent. */
  const circuits = new Map<string, { since: number; sent: boolean; code: string | null }>();
  let diskLow = false;
  let rulesRefused = false;
  const dropsSeen = new Set<number>();
  /** Settles when the drops finished before start-up are in dropsSeen. */
  let seeded: Promise<void> = Promise.resolve();
  let offs: (() => void)[] = [];

  const circuitRecovered = (sink: string): void => {
    const c = circuits.get(sink);
    circuits.delete(sink);
    if (!c?.sent) {
      return;
    }
    notice({
      kind: 'circuit.open',
      state: 'recovered',
      subject: `sink:${sink}`,
      path: '/console',
      title: `Sink ${sink} recovered after ${String(Math.round((clock.now() - c.since) / 60_000))} min; deliveries resume`,
      text: 'Its circuit breaker closed: the target answered again and the waiting series are being delivered.',
    });
  };

  return {
    start() {
      // Drops already finished at start-up were reported (or not) by the previous run. They are
      // read while the events below are already heard, so none is missed in the meantime.
      seeded = (async () => {
        for (const drop of (await d.drops()) ?? []) {
          dropsSeen.add(drop.id);
        }
      })();
      offs = [
        d.events.on('job.failed', (e) => {
          notice({
            kind: 'job.dead',
            state: 'event',
            subject: `job:${String(e.jobId)}`,
            path: `/console/series/${String(e.seriesId)}`,
            title: `Delivery of series ${String(e.seriesId)} to ${e.sink} gave up (${e.code})`,
            text: `Job ${String(e.jobId)} is dead after attempt ${String(e.attempt)} (stage ${e.stage}). Fix the cause, then requeue it on the console's Dead jobs page.`,
          });
        }),
        d.events.on('series.routed', (e) => {
          if (e.target !== 'quarantine') {
            return;
          }
          const rt = e.rules.includes('rt:referenced-images-missing');
          notice({
            kind: rt ? 'rt.missing-images' : 'series.quarantined',
            state: 'event',
            subject: `series:${String(e.seriesId)}`,
            path: `/console/series/${String(e.seriesId)}`,
            title: rt
              ? `RT series ${String(e.seriesId)} went to ${e.project}: its referenced images never arrived`
              : `Series ${String(e.seriesId)} went to ${e.project} (${e.rules.join(', ')})`,
            text: "Check it on the console's Quarantine page and release it when it may go to the hospital project.",
          });
        }),
        d.events.on('sink.circuit', (e) => {
          if (e.state === 'closed') {
            circuitRecovered(e.sink);
          } else if (!circuits.has(e.sink)) {
            circuits.set(e.sink, { since: clock.now(), sent: false, code: e.code });
          }
        }),
      ];
      return seeded;
    },
    async check() {
      const now = clock.now();
      for (const [sink, c] of circuits) {
        if (c.sent || now - c.since < d.circuitOpenMs) {
          continue;
        }
        c.sent = true;
        notice({
          kind: 'circuit.open',
          state: 'open',
          subject: `sink:${sink}`,
          path: '/console',
          title: `Sink ${sink} has been failing for ${String(Math.round((now - c.since) / 60_000))} min${c.code ? ` (${c.code})` : ''}`,
          text: 'Its circuit breaker is open: series for it wait in the spool (their attempts are not used up) and one probe at a time tests the target. You will get one message when it recovers.',
        });
      }
      const disk = await d.disk();
      if (!diskLow && disk.freeBytes < disk.minFreeBytes) {
        diskLow = true;
        notice({
          kind: 'disk.low',
          state: 'open',
          subject: 'disk',
          path: '/console',
          title: `Disk below the watermark: ${gib(disk.freeBytes)} free, ${gib(disk.minFreeBytes)} required`,
          text: 'New associations and import drops are refused until space is freed or the backlog is delivered.',
        });
      } else if (diskLow && disk.freeBytes >= disk.minFreeBytes) {
        diskLow = false;
        notice({
          kind: 'disk.low',
          state: 'recovered',
          subject: 'disk',
          path: '/console',
          title: `Disk space recovered: ${gib(disk.freeBytes)} free`,
          text: 'New data is accepted again.',
        });
      }
      const rules = d.rulesError();
      if (!rulesRefused && rules) {
        rulesRefused = true;
        notice({
          kind: 'rules.refused',
          state: 'open',
          subject: 'rules',
          path: '/console/rules',
          title: 'An edit of the routing rules was refused; the previous rules stay in force',
          text: rules.problems.slice(0, 5).join('\n'),
        });
      } else if (rulesRefused && !rules) {
        rulesRefused = false;
        notice({
          kind: 'rules.refused',
          state: 'recovered',
          subject: 'rules',
          path: '/console/rules',
          title: 'The routing rules reloaded without errors',
          text: 'The refused edit has been fixed.',
        });
      }
      await seeded;
      for (const drop of (await d.drops()) ?? []) {
        if (dropsSeen.has(drop.id) || drop.state !== 'released') {
          continue;
        }
        dropsSeen.add(drop.id);
        if (drop.filesRejected === 0) {
          continue;
        }
        notice({
          kind: 'drop.rejected',
          state: 'event',
          subject: `drop:${String(drop.id)}`,
          path: '/console/import',
          title: `Import drop ${String(drop.id)}: ${String(drop.filesRejected)} of ${String(drop.filesTotal)} files rejected`,
          text: "They were moved to the rejected folder with rejected.json saying why; the console's Import folder page lists them for administrators.",
        });
      }
    },
    stop() {
      for (const off of offs) {
        off();
      }
      offs = [];
    },
  };
}
