//! Configuration of the `folder` source (the watched import folder).
import { z } from 'zod';

/** Simple name patterns: `*` matches any run of characters, everything else is literal. */
const namePattern = z
  .string()
  .min(1)
  .regex(/^[^/]+$/, 'a pattern matches one file or folder name, without "/"');

export const DEFAULT_IN_PROGRESS = ['*.part', '*.partial', '*.tmp', '*.crdownload', '~$*', '.~lock*'];

export const folderSourceConfig = z.strictObject({
  enabled: z.boolean().default(true).meta({ description: 'Watch the import folder.' }),
  path: z
    .string()
    .min(1)
    .optional()
    .meta({
      description:
        'The import folder (env XNAT_GATEWAY_IMPORT_DIR); default <dataDir>/import. Often a mounted SMB/NFS share. ' +
        'Each top-level folder (or loose file) in it is one drop.',
    }),
  mode: z
    .enum(['auto', 'events', 'poll'])
    .default('auto')
    .meta({
      description:
        'events: file-system notifications (local disks) plus a safety rescan; poll: rescans only, for SMB/NFS where other ' +
        "machines' writes raise no events; auto: poll when the folder is on a network file system, otherwise events.",
    }),
  pollIntervalMs: z
    .number()
    .int()
    .min(100)
    .default(15_000)
    .meta({ description: 'Rescan interval in poll mode (each rescan stats every waiting file).' }),
  rescanIntervalMs: z.number().int().min(100).default(10_000).meta({
    description: 'Safety rescan interval in events mode (missed or overflowed notifications only delay work).',
  }),
  stableMs: z.number().int().min(0).default(30_000).meta({
    description:
      'A drop is read once no file in it was added, removed, or changed size or mtime for this long. Use minutes on SMB/NFS.',
  }),
  readyMarker: z
    .string()
    .min(1)
    .regex(/^[^/]+$/)
    .nullable()
    .default(null)
    .meta({
      description:
        'Name of a marker file (e.g. ".ready") that, when present at the top of a drop, makes it ready without waiting for stableMs.',
    }),
  inProgressPatterns: z.array(namePattern).default(DEFAULT_IN_PROGRESS).meta({
    description: 'A file or folder whose name matches one of these keeps its drop waiting (copies in progress).',
  }),
  afterImport: z.enum(['move', 'delete']).default('move').meta({
    description:
      'What happens to a drop once every instance in it is durably spooled: moved to processedDir, or deleted (DASHER).',
  }),
  nonDicom: z
    .enum(['reject', 'delete'])
    .default('reject')
    .meta({
      description:
        'Files that are not DICOM: moved to rejectedDir/<drop>/ with rejected.json (reject), or deleted (delete, DASHER). ' +
        'Truncated and unreadable files always go to rejectedDir.',
    }),
  processedDir: z
    .string()
    .min(1)
    .optional()
    .meta({ description: 'Where released drops are moved; default <dataDir>/processed.' }),
  rejectedDir: z.string().min(1).optional().meta({
    description: 'Where rejected files go, one folder per drop with rejected.json; default <dataDir>/rejected.',
  }),
  readAttempts: z.number().int().min(1).max(100).default(3).meta({
    description:
      'A locked or unreadable file (permission denied, I/O error) is tried this many times, one rescan apart, before it is rejected.',
  }),
  concurrency: z.number().int().min(1).max(64).default(4).meta({ description: 'Files of a drop read in parallel.' }),
  maxZipEntries: z
    .number()
    .int()
    .min(1)
    .default(100_000)
    .meta({ description: 'A .zip with more entries is rejected whole.' }),
  maxZipExpandedBytes: z.number().int().min(1).nullable().default(null).meta({
    description:
      'A .zip declaring more expanded bytes is rejected whole; null: no fixed cap (the ratio and the free space above the watermark still apply).',
  }),
  maxZipRatio: z
    .number()
    .min(1)
    .default(50)
    .meta({
      description:
        'A .zip declaring more than this many times its own size is rejected whole, before anything is unpacked (real DICOM ' +
        'compresses a few times, a zip bomb a thousand). The unpacked entries must also fit twice (unpacked, then spooled) in the ' +
        'free space above spool.minFreeBytes, or the zip waits; an archive that inflates beyond what it declared is rejected, not retried.',
    }),
});
export type FolderSourceConfig = z.output<typeof folderSourceConfig>;
