//! How the gateway reaches one XNAT over REST: base URL, credentials (never inline), timeouts.
import { z } from 'zod';

export const xnatAccessFields = {
  url: z.url({ protocol: /^https?$/ }).meta({
    description:
      'XNAT base URL, e.g. http://xnat-web:8080 (env XNAT_GATEWAY_XNAT_URL). Going around a proxy avoids its body-size and read-timeout limits.',
  }),
  user: z
    .string()
    .min(1)
    .meta({ description: 'XNAT user name, or the alias of an alias token (env XNAT_GATEWAY_XNAT_USER).' }),
  passwordFile: z.string().min(1).optional().meta({
    description:
      'File holding the password or the token secret (env XNAT_GATEWAY_XNAT_PASSWORD_FILE); must not be readable by others. Read again at each login, so a rotated secret needs no restart.',
  }),
  passwordEnv: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
    .optional()
    .meta({
      description:
        'Name of an environment variable holding the password (for secret stores that inject variables). Use this or passwordFile.',
    }),
  requestTimeoutMs: z
    .number()
    .int()
    .min(1000)
    .default(60_000)
    .meta({ description: 'A REST call (login, project check, verification) fails when nothing moves for this long.' }),
  uploadTimeoutMs: z
    .number()
    .int()
    .min(1000)
    .default(30 * 60_000)
    .meta({
      description:
        'An upload fails when XNAT sends nothing back for this long after the last byte moved: DICOM-zip with dest=archive builds and archives before answering.',
    }),
};

export const xnatAccess = z.strictObject(xnatAccessFields);
export type XnatAccess = z.output<typeof xnatAccess>;
