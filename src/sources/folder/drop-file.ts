//! Reads one file of a drop: to the intake, into a zip, or straight to a rejected or ignored row.
import { ErrorCode } from '../../errors.ts';
import type { DaemonEvents } from '../../contracts/component.ts';
import { readInstanceFile, type FileResult } from './read-file.ts';
import type { DropScan, ScannedFile } from './scan.ts';
import { createZipReader, type ZipDeps, type ZipReadContext } from './drop-zip.ts';

const isZip = (rel: string): boolean => /\.zip$/i.test(rel);

/** What reading the files of a drop needs of the drop reader's dependencies. */
export interface DropFileDeps extends ZipDeps {
  readonly paths: { readonly workDir: string; readonly rejectedDir: string };
  /** Where rejected files are counted (instance_failures_total); absent for a one-shot import. */
  readonly events?: DaemonEvents;
  /** log.fileNames: the rejected file's name in its log line (otherwise only in rejected.json). */
  readonly logFileNames?: boolean;
}

/** The drop being read, as each of its files sees it. */
export interface DropFileContext extends Omit<ZipReadContext, 'd' | 'apply'> {
  readonly d: DropFileDeps;
  readonly kind: 'folder' | 'file';
  readonly scan: DropScan;
  /** Failed read attempts per file, kept across rescans of a drop. */
  readonly attempts: Map<string, number>;
}

/** Returns the file reader of one drop read: each file's result becomes its row (or a wait or a retry). */
export function createFileReader(c: DropFileContext): (f: ScannedFile) => Promise<void> {
  const { d, drop, name, kind, scan, attempts, association, recordRow, flags } = c;
  const { log, cfg } = d;
  const order = new Map(scan.files.map((f, i) => [f.rel, i]));

  const apply = async (f: { rel: string; size: number; mtimeMs: number }, r: FileResult): Promise<void> => {
    switch (r.kind) {
      case 'spooled':
        await recordRow({ ...f, outcome: r.outcome, instanceId: r.instanceId });
        break;
      case 'ignored':
        await recordRow({ ...f, outcome: 'ignored', reason: r.reason });
        break;
      case 'rejected': {
        await recordRow({ ...f, outcome: 'rejected', code: r.code, reason: r.reason });
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
          await recordRow({ ...f, outcome: 'rejected', code: ErrorCode.FOLDER_UNREADABLE, reason: r.reason });
        } else {
          flags.again = true;
        }
        break;
      }
    }
  };

  const readZip = createZipReader({ ...c, apply });

  async function readOne(f: ScannedFile): Promise<void> {
    if (f.clutter) {
      await apply(f, { kind: 'ignored', reason: 'operating-system file' });
      return;
    }
    if (f.problem) {
      await apply(f, { kind: 'rejected', code: ErrorCode.FOLDER_NOT_FOLLOWED, reason: f.problem });
      return;
    }
    if (isZip(f.rel || name)) {
      if (f.raw) {
        await apply(f, {
          kind: 'rejected',
          code: ErrorCode.FOLDER_ZIP_REJECTED,
          reason: 'zip file whose name is not valid UTF-8: rename it and drop it again',
        });
        return;
      }
      return readZip(f);
    }
    await apply(
      f,
      await readInstanceFile(f, {
        intake: d.intake,
        associationUid: association,
        origin: kind === 'file' ? name : `${name}/${f.rel}`,
      }),
    );
  }

  return readOne;
}
