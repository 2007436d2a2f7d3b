//! Reads a zip found in a drop: unpacks it into the work directory, then each entry to the intake.
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode } from '../../errors.ts';
import type { Logger, SpaceReservation } from '../../contracts/component.ts';
import type { DropFileRecord, DropRecord } from '../../contracts/drops.ts';
import type { Intake } from '../../contracts/source.ts';
import type { FolderSourceConfig } from './config.ts';
import { safeError } from './safe-error.ts';
import { readInstanceFile, type FileResult } from './read-file.ts';
import type { ScannedFile } from './scan.ts';
import { extractZip, ZipNoSpace, ZipRejected } from './unzip.ts';

/** The disk (or a quota) filled up under us: not the file's fault, so tried again, never rejected for it. */
const isNoSpace = (err: unknown): boolean =>
  ['ENOSPC', 'EDQUOT'].includes((err as NodeJS.ErrnoException | null)?.code ?? '');

/** What reading a zip needs of the drop reader's dependencies. */
export interface ZipDeps {
  readonly intake: Intake;
  readonly log: Logger;
  readonly cfg: FolderSourceConfig;
  readonly paths: { readonly workDir: string };
  /** True once the source is stopping: no new file is started. */
  readonly stopping: () => boolean;
  /** Aborted when the source stops: a zip being unpacked stops at once (it is unpacked again after a restart). */
  readonly signal?: AbortSignal;
}

/** The drop being read, as the zips in it see it. */
export interface ZipReadContext {
  readonly d: ZipDeps;
  readonly drop: DropRecord;
  readonly name: string;
  /** Rows already in the ledger: an entry handed off before a restart is not read again. */
  readonly handled: ReadonlyMap<string, DropFileRecord>;
  readonly association: string;
  /** Adds a file's row to the ledger's next write (made once enough rows are waiting). */
  readonly recordRow: (row: DropFileRecord) => Promise<void>;
  /** Turns a file's result into its row (or into a wait or a retry). */
  readonly apply: (f: { rel: string; size: number; mtimeMs: number }, r: FileResult) => Promise<void>;
  /** Set from inside the per-file callbacks; an object so the compiler does not narrow them. */
  readonly flags: { changed: boolean; again: boolean };
}

/** Returns the zip reader of one drop read. */
export function createZipReader(c: ZipReadContext): (f: ScannedFile) => Promise<void> {
  const { d, drop, name, handled, association, recordRow, apply, flags } = c;
  const { log, cfg, paths } = d;
  /** Each archive unpacks into its own folder, even when several are read at once. */
  let zipSeq = 0;

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
        await recordRow({
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
        await apply({ rel, size: e.size, mtimeMs: f.mtimeMs }, r);
        // Handed off (or refused): the unpacked copy has done its job, and its space is the spool's now.
        await rm(e.abs, { force: true });
      }
      // The archive leaves with the drop only if everything in it was handed off; otherwise it is
      // kept whole in the rejected folder, beside the list of what was wrong inside it.
      await apply(
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
        await apply(f, { kind: 'rejected', code: ErrorCode.FOLDER_ZIP_REJECTED, reason: err.message });
      } else if (err instanceof ZipNoSpace || isNoSpace(err)) {
        log.warn(
          { dropId: drop.id, code: ErrorCode.SPOOL_FULL, reason: safeError(err).message },
          'A zip in a drop waits for free space; it is unpacked at a later rescan.',
        );
        await apply(f, { kind: 'retry', reason: safeError(err).message });
      } else if (d.signal?.aborted) {
        await apply(f, { kind: 'retry', reason: 'stopped while unpacking' });
      } else {
        await apply(f, { kind: 'unreadable', reason: `unreadable archive: ${safeError(err).message}` });
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
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

  return readZip;
}
