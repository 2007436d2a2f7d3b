//! Configuration of the `route` transform: the quarantine protocol (projects, rule files, built-in sets, RT wait).
import { z } from 'zod';

const projectId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'an XNAT project id: letters, digits, "_" and "-"');

export const burnedInConfig = z.strictObject({
  enabled: z.boolean().default(true).meta({
    description:
      'Quarantine series that may carry patient data in their pixels (BurnedInAnnotation, screen captures, SC/PDF, risky modalities, dose reports).',
  }),
  modalities: z
    .array(z.string().min(1))
    .default(['OT', 'SC', 'DOC', 'US', 'XC', 'ES'])
    .meta({ description: 'Modalities always quarantined by this set (case-insensitive).' }),
  seriesDescriptions: z
    .array(z.string().min(1))
    .default(['dose\\s*(report|info)', 'patient\\s*protocol', 'screen\\s*(save|capture|shot)', 'exam\\s*summary'])
    .meta({
      description: 'Case-insensitive regular expressions on SeriesDescription (dose reports, screen captures).',
    }),
});

export const builtinConfig = z.strictObject({
  burnedIn: burnedInConfig.prefault({}),
  missingIdentifiers: z.boolean().default(true).meta({
    description:
      'Quarantine instances without PatientName, PatientID or StudyInstanceUID (XNAT needs them to file a session), or without Modality. Fail closed.',
  }),
});

export const routeConfig = z.strictObject({
  hospitalProject: projectId
    .default('HOSPITAL')
    .meta({ description: 'The hospital XNAT project that accepted series go to (env XNAT_GATEWAY_HOSPITAL_PROJECT).' }),
  quarantineProject: projectId.default('QUARANTINE').meta({
    description: 'Where everything else goes until an administrator releases it (env XNAT_GATEWAY_QUARANTINE_PROJECT).',
  }),
  protocolFile: z.string().min(1).nullable().default(null).meta({
    description:
      'A DASHER protocol.txt (Modality include list, ManufacturersModelName exclude list), matched by exact token (env XNAT_GATEWAY_PROTOCOL_FILE). Reloaded when it changes.',
  }),
  rulesFile: z.string().min(1).nullable().default(null).meta({
    description: 'A YAML file of ordered routing rules over any attribute (docs/routing.md). Reloaded when it changes.',
  }),
  builtin: builtinConfig.prefault({}).meta({ description: 'Built-in rule sets, on by default.' }),
  rtWaitMs: z
    .number()
    .int()
    .min(0)
    .default(24 * 3_600_000)
    .meta({
      description:
        'How long an RTSTRUCT/RTPLAN/RTDOSE series waits for its referenced images before it goes to quarantine ("referenced images missing").',
    }),
  reloadDebounceMs: z.number().int().min(0).default(500).meta({
    description: 'Quiet time after a rule file changes before it is re-read (editors write in several steps).',
  }),
});

export type RouteConfig = z.output<typeof routeConfig>;
