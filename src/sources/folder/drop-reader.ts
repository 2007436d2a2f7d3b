//! Reads one stable drop: every file to the intake (or to the rejected list), then the release.
// The ledger row of a file is written only after the intake committed its instance, so after a
// crash a file either has a row (handed off: not read again) or is read again; re-reading an
// instance already held is answered "duplicate" by the intake, never stored twice.
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DaemonError, ErrorCode } from '../../errors.ts';
import type { DaemonEvents, Logger, SpaceReservation } from '../../contracts/component.ts';
import type { DropFileRecord, DropLedger, DropRecord } from '../../contracts/drops.ts';
import type { Intake } from '../../contracts/source.ts';
import type { Clock } from '../../clock.ts';
import type { FolderSourceConfig } from './config.ts';
import { safeError } from './safe-error.ts';
import { freeName, releaseDrop } from './release.ts';
import { readInstanceFile, type FileResult } from './read-file.ts';
import type { DropScan, ScannedFile } from './scan.ts';
import { extractZip, ZipNoSpace, ZipRejected } from './unzip.ts';

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
const isZip = (rel: string): boolean => /\.zip$/i.test(rel);
/** The disk (or a quota) filled up under us: not the file's fault, so tried again, never rejected for it. */
const isNoSpace = (err: unknown): boolean =>
  ['ENOSPC', 'EDQUOT'].includes((err as NodeJS.ErrnoException | null)?.code ?? '');

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
  abandon(drop: DropRecord): void;
} {
  const { ledger, log, clock, cfg, paths } = d;

  async function planAndRelease(drop: DropRecord): Promise<boolean> {
    let current = drop;
    const files = ledger.handled(drop.id);
    const rejected = [...files.values()].filter((f) => f.outcome === 'rejected');
    if (current.state === 'reading') {
      const disposition = d.keepInPlace
        ? 'keep'
        : cfg.afterImport === 'delete'
          ? 'delete'
          : `move:${await freeName(paths.processedDir, drop.name, drop.id, drop.kind)}`;
      const rejectedTo = rejected.length ? await freeName(paths.rejectedDir, drop.name, drop.id, 'folder') : null;
      ledger.markReleasing(drop.id, { disposition, rejectedTo });
      current = ledger.get(drop.id) ?? current;
    }
    try {
      const r = await releaseDrop({
        dropId: drop.id,
        dropName: drop.name,
        dropAbs: join(paths.root, drop.name),
        kind: drop.kind,
        handled: [...files.values()]
          .filter((f) => f.outcome !== 'rejected')
          .map((f) => f.rel)
          .filter((rel) => !isArchiveEntry(rel, drop, files)),
        rejected: rejected.map((f) => ({ rel: f.rel, size: f.size, code: f.code ?? '', reason: f.reason ?? '' })),
        disposition: current.disposition ?? 'delete',
        rejectedTo: current.rejectedTo,
        nonDicom: cfg.nonDicom,
        importRoot: paths.root,
        at: clock.now(),
        reserve: (dir, bytes) => d.intake.reserveSpace(dir, bytes),
      });
      ledger.markReleased(drop.id, clock.now());
      log.info(
        {
          dropId: drop.id,
          spooled: current.filesSpooled,
          rejected: current.filesRejected,
          ignored: current.filesIgnored,
          ...r,
          afterImport: cfg.afterImport,
        },
        'Drop released: every instance is in the spool.',
      );
      log.debug(
        { dropId: drop.id, drop: drop.name, disposition: current.disposition, rejectedTo: current.rejectedTo },
        'Drop release destinations.',
      );
      return true;
    } catch (err) {
      log.debug({ err, dropId: drop.id }, 'Release error in full.');
      if (err instanceof DaemonError && err.code === ErrorCode.SPOOL_FULL) {
        log.warn(
          { dropId: drop.id, code: err.code, reason: err.message },
          'Releasing a drop waits for free space; its instances are safe in the spool.',
        );
      } else {
        log.error(
          { err: safeError(err), dropId: drop.id, code: ErrorCode.FOLDER_RELEASE },
          'Releasing a drop failed; its instances are safe in the spool, the release is retried at the next rescan.',
        );
      }
      return false;
    }
  }

  /** True for `a.zip/x/y.dcm` when `a.zip` is a file of the drop: entries exist only inside the archive. */
  function isArchiveEntry(rel: string, drop: DropRecord, files: ReadonlyMap<string, DropFileRecord>): boolean {
    const i = rel.search(/\.zip\//i);
    if (i < 0) {
      return false;
    }
    const archive = rel.slice(0, i + 4);
    return files.has(archive) || (drop.kind === 'file' && archive === drop.name);
  }

  async function read(
    name: string,
    kind: 'folder' | 'file',
    scan: DropScan,
    attempts: Attempts,
    onProgress?: (p: DropProgress) => void,
  ): Promise<DropOutcome> {
    const { drop, resumed } = ledger.begin({ root: paths.root, name, kind, at: clock.now() });
    if (drop.state === 'releasing') {
      return (await planAndRelease(drop)) ? 'released' : 'again';
    }
    const handled = ledger.handled(drop.id);
    ledger.setTotal(drop.id, scan.files.length + (scan.marker ? 1 : 0));
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
    const association = ledger.openAssociation(drop.id) ?? d.intake.openAssociation({ source: 'folder', peerIp: '' });
    ledger.setAssociation(drop.id, association);
    let pending: DropFileRecord[] = [];
    let lastProgressLog = clock.now();
    /** Each archive unpacks into its own folder, even when several are read at once. */
    let zipSeq = 0;
    const flush = (): void => {
      if (pending.length) {
        ledger.record(drop.id, pending, clock.now());
      }
      pending = [];
    };
    const recordRow = (row: DropFileRecord): void => {
      pending.push(row);
      countIn(progress, row.outcome);
      if (pending.length >= FLUSH_EVERY) {
        flush();
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
    const order = new Map(scan.files.map((f, i) => [f.rel, i]));
    // Set from inside the per-file callbacks; an object so the compiler does not narrow them.
    const flags = { changed: false, again: false };

    const apply = (f: { rel: string; size: number; mtimeMs: number }, r: FileResult): void => {
      switch (r.kind) {
        case 'spooled':
          recordRow({ ...f, outcome: r.outcome, instanceId: r.instanceId });
          break;
        case 'ignored':
          recordRow({ ...f, outcome: 'ignored', reason: r.reason });
          break;
        case 'rejected': {
          recordRow({ ...f, outcome: 'rejected', code: r.code, reason: r.reason });
          d.events?.emit('instance.failed', { source: 'folder', code: r.code });
          // Found by drop id and file number: rejected.json (in the drop's folder under rejectedDir,
          // with this dropId) lists the names. The name itself only on request: it may be a patient's.
          const where = {
            dropId: drop.id,
            file: (order.get(f.rel) ?? 0) + 1,
            files: scan.files.length,
            rejectedDir: d.paths.rejectedDir,
          };
          log.warn(
            { ...where, ...(d.logFileNames ? { fileName: `${name}/${f.rel}` } : {}), code: r.code, reason: r.reason },
            'A file in a drop was rejected; rejected.json under rejectedDir names it.',
          );
          break;
        }
        case 'changed':
          flags.changed = true;
          break;
        case 'retry':
          flags.again = true;
          break;
        case 'unreadable': {
          const n = (attempts.get(f.rel) ?? 0) + 1;
          attempts.set(f.rel, n);
          log.warn(
            { dropId: drop.id, attempt: n, of: cfg.readAttempts, reason: r.reason },
            'A file in a drop could not be read.',
          );
          if (n >= cfg.readAttempts) {
            recordRow({ ...f, outcome: 'rejected', code: ErrorCode.FOLDER_UNREADABLE, reason: r.reason });
          } else {
            flags.again = true;
          }
          break;
        }
      }
    };

    async function readZip(f: ScannedFile): Promise<void> {
      const dir = join(paths.workDir, 'folder', String(drop.id), String(zipSeq++));
      try {
        const z = await extractZip(f.abs, dir, {
          maxEntries: cfg.maxZipEntries,
          maxExpandedBytes: cfg.maxZipExpandedBytes,
          maxRatio: cfg.maxZipRatio,
          reserve: (bytes) => reserveForZip(bytes),
          ...(d.signal ? { signal: d.signal } : {}),
        });
        let bad = 0;
        for (const s of z.skipped) {
          recordRow({
            rel: `${f.rel || name}/${s.rel}`,
            size: 0,
            mtimeMs: f.mtimeMs,
            outcome: 'rejected',
            code: ErrorCode.FOLDER_ZIP_REJECTED,
            reason: s.reason,
          });
          bad++;
        }
        for (const e of z.files) {
          if (d.stopping()) {
            flags.again = true;
            return;
          }
          const rel = `${f.rel || name}/${e.rel}`;
          if (handled.has(rel)) {
            continue;
          }
          const st = await stat(e.abs);
          let r = await readInstanceFile(
            { abs: e.abs, size: st.size, mtimeMs: Math.trunc(st.mtimeMs) },
            { intake: d.intake, associationUid: association, origin: `${name}/${rel}` },
          );
          // An extracted entry cannot change under us; an unreadable one is a broken entry.
          if (r.kind === 'changed' || r.kind === 'unreadable') {
            r = { kind: 'rejected', code: ErrorCode.FOLDER_ZIP_REJECTED, reason: r.reason };
          }
          if (r.kind === 'retry') {
            flags.again = true;
            return;
          }
          if (r.kind === 'rejected') {
            bad++;
          }
          apply({ rel, size: e.size, mtimeMs: f.mtimeMs }, r);
          // Handed off (or refused): the unpacked copy has done its job, and its space is the spool's now.
          await rm(e.abs, { force: true });
        }
        // The archive leaves with the drop only if everything in it was handed off; otherwise it is
        // kept whole in the rejected folder, beside the list of what was wrong inside it.
        apply(
          f,
          bad
            ? {
                kind: 'rejected',
                code: ErrorCode.FOLDER_ZIP_REJECTED,
                reason: `archive kept whole: ${String(bad)} of its entries could not be ingested (listed separately)`,
              }
            : { kind: 'ignored', reason: `archive unpacked: ${String(z.files.length)} entries` },
        );
      } catch (err) {
        if (err instanceof ZipRejected) {
          apply(f, { kind: 'rejected', code: ErrorCode.FOLDER_ZIP_REJECTED, reason: err.message });
        } else if (err instanceof ZipNoSpace || isNoSpace(err)) {
          log.warn(
            { dropId: drop.id, code: ErrorCode.SPOOL_FULL, reason: safeError(err).message },
            'A zip in a drop waits for free space; it is unpacked at a later rescan.',
          );
          apply(f, { kind: 'retry', reason: safeError(err).message });
        } else if (d.signal?.aborted) {
          apply(f, { kind: 'retry', reason: 'stopped while unpacking' });
        } else {
          apply(f, { kind: 'unreadable', reason: `unreadable archive: ${safeError(err).message}` });
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }

    async function readOne(f: ScannedFile): Promise<void> {
      if (f.clutter) {
        apply(f, { kind: 'ignored', reason: 'operating-system file' });
        return;
      }
      if (f.problem) {
        apply(f, { kind: 'rejected', code: ErrorCode.FOLDER_NOT_FOLLOWED, reason: f.problem });
        return;
      }
      if (isZip(f.rel || name)) {
        if (f.raw) {
          apply(f, {
            kind: 'rejected',
            code: ErrorCode.FOLDER_ZIP_REJECTED,
            reason: 'zip file whose name is not valid UTF-8: rename it and drop it again',
          });
          return;
        }
        return readZip(f);
      }
      apply(
        f,
        await readInstanceFile(f, {
          intake: d.intake,
          associationUid: association,
          origin: kind === 'file' ? name : `${name}/${f.rel}`,
        }),
      );
    }

    /**
     * The zip is unpacked into the work directory only when its declared expansion fits above the
     * watermark now (each entry is removed once spooled, so the spool copies reuse that space), and
     * refused for good when it never can.
     */
    function reserveForZip(bytes: number): SpaceReservation | ZipNoSpace {
      const r = d.intake.space(paths.workDir);
      if (bytes > r.totalBytes - r.minFreeBytes) {
        throw new ZipRejected(
          `expands to ${String(bytes)} bytes, more than the data disk can ever hold above its watermark (spool.minFreeBytes); split it`,
        );
      }
      return (
        d.intake.reserveSpace(paths.workDir, bytes) ??
        new ZipNoSpace(
          `needs ${String(bytes)} bytes free above the watermark to be unpacked, ${String(Math.max(0, r.availableBytes))} available`,
        )
      );
    }

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
      flush();
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
    return (await planAndRelease(ledger.get(drop.id) ?? drop)) ? 'released' : 'again';
  }

  /** A drop that left the import folder before it was read whole: its series may complete now. */
  function abandon(drop: DropRecord): void {
    const association = ledger.openAssociation(drop.id);
    if (association !== null) {
      d.intake.closeAssociation(association, 'dropped');
    }
    ledger.markVanished(drop.id, clock.now());
    log.warn(
      { dropId: drop.id, spooled: drop.filesSpooled, of: drop.filesTotal },
      'A drop disappeared from the import folder before it was read whole; what was read is kept and delivered.',
    );
  }

  return { read, finishRelease: planAndRelease, abandon };
}
