//! Configuration schema of the `folder` sink.
import { z } from 'zod';
import { sinkCommon } from '../../contracts/sink-config.ts';

/** The `folder` sink writes each delivered instance under `<path>/<Study UID>/<Series UID>/`. */
export const folderSinkConfig = z.strictObject({
  type: z.literal('folder'),
  ...sinkCommon,
  path: z
    .string()
    .min(1)
    .optional()
    .meta({
      description:
        'Directory receiving delivered instances as <path>/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm. ' +
        'Created (mode 0750) if missing; must be on a local or reliably fsync-ing file system.',
    }),
});

export type FolderSinkConfig = z.infer<typeof folderSinkConfig>;
