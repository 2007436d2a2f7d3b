//! Reads one stable drop: every file to the intake (or to the rejected list), then the release.
// The ledger row of a file is written only after the intake committed its instance, so after a
// crash a file either has a row (handed off: not read again) or is read again; re-reading an
// instance already held is answered "duplicate" by the intake, never stored twice.
import type { DaemonEvents, Logger } from '../../contracts/component.ts';
import type { DropFileRecord, DropLedger, DropRecord } from '../../contracts/drops.ts';
import type { Intake } from '../../contracts/source.ts';
import type { Clock } from '../../clock.ts';
import type { FolderSourceConfig } from './config.ts';
import type { DropScan, ScannedFile } from './scan.ts';
import { createFileReader } from './drop-file.ts';
import { finishRelease } from './finish-release.ts';

export interface DropPaths {
  readonly root: string;
  readonly processedDir: string;
  readonly rejectedDir: string;
  readonly workDir: string;
}

export interface ReaderDeps {
  readonly intake: Intake;
  readonly ledger: DropLedger;
  readonly log: Logger;
  readonly clock: Clock;
  readonly cfg: FolderSourceConfig;
  readonly paths: DropPaths;
  /** True once the source is stopping: no new file is started. */
  readonly stopping: () => boolean;
  /** Aborted when the source stops: a zip being unpacked stops at once (it is unpacked again after a restart). */
  readonly signal?: AbortSignal;
  /** One-shot import: the folder stays where it is (nothing moved or deleted, rejected files listed only). */
  readonly keepInPlace?: boolean;
  /** Where rejected files are counted (instance_failures_total); absent for a one-shot import. */
  readonly events?: DaemonEvents;
  /** log.fileNames: the rejected file's name in its log line (otherwise only in rejected.json). */
  readonly logFileNames?: boolean;
}

/** Live progress of a drop being read, for /status and the import command's progress bar. */
export interface DropProgress {
  readonly dropId: number;
  total: number;
  done: number;
  spooled: number;
  rejected: number;
  ignored: number;
}

/**
 * released: handed off and released. wait: something changed or vanished, start the stability
 * clock again. again: unreadable files or back-pressure, try at the next rescan.
 */
export type DropOutcome = 'released' | 'wait' | 'again';

const FLUSH_EVERY = 256;
/** A big drop logs its progress this often (files done, spooled, rejected). */
const PROGRESS_LOG_MS = 10_000;

/** Adds one handled file to the live figures. */
function countIn(p: DropProgress, outcome: DropFileRecord['outcome']): void {
  p.done++;
  if (outcome === 'rejected') {
    p.rejected++;
  } else if (outcome === 'ignored') {
    p.ignored++;
  } else {
    p.spooled++;
  }
}

/** Failed read attempts per file, kept across rescans of a drop (in memory: a restart retries afresh). */
export type Attempts = Map<string, number>;

export function createDropReader(d: ReaderDeps): {
  read(
    name: string,
    kind: 'folder' | 'file',
    scan: DropScan,
    attempts: Attempts,
    onProgress?: (p: DropProgress) => void,
  ): Promise<DropOutcome>;
  finishRelease(drop: DropRecord): Promise<boolean>;
  abandon(drop: DropRecord): Promise<void>;
} {
  const { ledger, log, clock, cfg, paths } = d;

  async function read(
    name: string,
    kind: 'folder' | 'file',
    scan: DropScan,
    attempts: Attempts,
    onProgress?: (p: DropProgress) => void,
  ): Promise<DropOutcome> {
    const { drop, resumed } = await ledger.begin({ root: paths.root, name, kind, at: clock.now() });
    if (drop.state === 'releasing') {
      return (await finishRelease(d, drop)) ? 'released' : 'again';
    }
    const handled = await ledger.handled(drop.id);
    await ledger.setTotal(drop.id, scan.files.length + (scan.marker ? 1 : 0));
    const progress: DropProgress = {
      dropId: drop.id,
      total: scan.files.length,
      done: 0,
      spooled: 0,
      rejected: 0,
      ignored: 0,
    };
    const todo: ScannedFile[] = [];
    for (const f of scan.files) {
      const h = handled.get(f.rel);
      if (h && h.size === f.size && h.mtimeMs === f.mtimeMs) {
        countIn(progress, h.outcome);
      } else {
        todo.push(f);
      }
    }
    log.info(
      { dropId: drop.id, files: scan.files.length, bytes: scan.bytes, alreadyHandled: progress.done, resumed },
      'Reading a stable drop.',
    );
    log.debug({ dropId: drop.id, drop: name }, 'Drop name.');
    // One association per drop, kept open across partial reads and restarts until the release, so
    // no series of the drop completes (and is delivered) while part of it is still unread.
    const association =
      (await ledger.openAssociation(drop.id)) ?? (await d.intake.openAssociation({ source: 'folder', peerIp: '' }));
    await ledger.setAssociation(drop.id, association);
    let pending: DropFileRecord[] = [];
    let lastProgressLog = clock.now();
    const flush = async (): Promise<void> => {
      // Taken before the write, so rows recorded by other files meanwhile wait for the next one.
      const rows = pending;
      pending = [];
      if (rows.length) {
        try {
          await ledger.record(drop.id, rows, clock.now());
        } catch (err) {
          pending = rows.concat(pending); // tried again by the last flush
          throw err;
        }
      }
    };
    const recordRow = async (row: DropFileRecord): Promise<void> => {
      pending.push(row);
      countIn(progress, row.outcome);
      if (pending.length >= FLUSH_EVERY) {
        await flush();
      }
      onProgress?.(progress);
      if (clock.now() - lastProgressLog >= PROGRESS_LOG_MS) {
        lastProgressLog = clock.now();
        log.info({ ...progress }, 'Drop progress.');
      }
    };
    if (scan.marker && cfg.readyMarker !== null) {
      pending.push({ rel: cfg.readyMarker, size: 0, mtimeMs: 0, outcome: 'ignored', reason: 'ready marker' });
    }
    // Set from inside the per-file callbacks; an object so the compiler does not narrow them.
    const flags = { changed: false, again: false };

    const readOne = createFileReader({ d, drop, name, kind, scan, attempts, handled, association, recordRow, flags });

    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < todo.length && !flags.changed && !flags.again && !d.stopping()) {
        const f = todo[next++];
        if (f) {
          await readOne(f);
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(cfg.concurrency, Math.max(1, todo.length)) }, worker));
    } finally {
      await flush();
    }
    const { changed, again } = flags;
    const complete = !changed && !again && next >= todo.length && !d.stopping();
    if (!complete) {
      log.info(
        { dropId: drop.id, handled: progress.done, of: progress.total, changed, again },
        changed
          ? 'A drop changed while it was read; waiting for it to be stable again.'
          : 'A drop is partly read; the rest is tried at the next rescan.',
      );
      return changed ? 'wait' : 'again';
    }
    d.intake.closeAssociation(association, 'released');
    return (await finishRelease(d, (await ledger.get(drop.id)) ?? drop)) ? 'released' : 'again';
  }

  /** A drop that left the import folder before it was read whole: its series may complete now. */
  async function abandon(drop: DropRecord): Promise<void> {
    const association = await ledger.openAssociation(drop.id);
    if (association !== null) {
      d.intake.closeAssociation(association, 'dropped');
    }
    await ledger.markVanished(drop.id, clock.now());
    log.warn(
      { dropId: drop.id, spooled: drop.filesSpooled, of: drop.filesTotal },
      'A drop disappeared from the import folder before it was read whole; what was read is kept and delivered.',
    );
  }

  return { read, finishRelease: (drop) => finishRelease(d, drop), abandon };
}
