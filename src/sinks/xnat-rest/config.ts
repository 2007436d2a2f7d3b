//! Configuration schema of the `xnat-rest` sink (XNAT's import service, one DICOM-zip per series).
import { z } from 'zod';
import { sinkCommon } from '../../contracts/sink-config.ts';
import { xnatAccessFields } from '../../xnat/config.ts';

export const xnatRestSinkConfig = z
  .strictObject({
    type: z.literal('xnat-rest'),
    ...sinkCommon,
    ...xnatAccessFields,
    dest: z
      .enum(['archive', 'prearchive'])
      .default('archive')
      .meta({
        description:
          'archive: XNAT builds and archives the session before answering, so conflicts come back at once (dest=/archive/projects/P). ' +
          "prearchive: the session waits in XNAT's prearchive for review (dest=/prearchive/projects/P).",
      }),
    verify: z.boolean().default(true).meta({
      description: 'After each upload, look the session up in XNAT and compare its file count with what was sent.',
    }),
  })
  .refine((c) => c.passwordFile !== undefined || c.passwordEnv !== undefined, {
    message: 'needs passwordFile or passwordEnv (the password or token secret is never written in the config)',
    path: ['passwordFile'],
  });

export type XnatRestSinkConfig = z.output<typeof xnatRestSinkConfig>;
