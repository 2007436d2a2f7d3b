//! Configuration of the `anonymise` transform: a default profile, per-project overrides, keys, pseudonyms.
import { z } from 'zod';
import type { ProfileOptions } from './table.ts';

const projectId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'an XNAT project id: letters, digits, "_" and "-"');

const optionsSchema = z.strictObject({
  retainLongitudinal: z.enum(['off', 'full', 'modified']).optional().meta({
    description: 'Retain Longitudinal Temporal Information: off (Basic), full dates, or modified (shifted) dates.',
  }),
  retainPatientCharacteristics: z.boolean().optional(),
  retainDeviceIdentity: z.boolean().optional(),
  retainInstitutionIdentity: z.boolean().optional(),
  retainUids: z.boolean().optional(),
  cleanDescriptors: z.boolean().optional(),
  retainSafePrivate: z.boolean().optional(),
  cleanStructuredContent: z.boolean().optional(),
  cleanGraphics: z.boolean().optional(),
});

const pseudonymsSchema = z.strictObject({
  mode: z.enum(['auto', 'lookup']).optional().meta({
    description:
      'auto: assign subject labels from subjectPattern; lookup: only patients imported with `xnat-gateway pseudonyms import` (others are held).',
  }),
  subjectPattern: z
    .string()
    .min(1)
    .optional()
    .meta({ description: 'Subject label pattern; tokens {project}, {seq} or {seq:06}.' }),
  sessionPattern: z.string().min(1).optional().meta({
    description: 'Session label pattern; tokens {project}, {subject}, {seq} or {seq:02} (counted per subject).',
  }),
});

const dateShiftSchema = z.strictObject({
  unit: z
    .enum(['days', 'weeks'])
    .optional()
    .meta({ description: 'Shift by whole days, or whole weeks (keeps weekdays).' }),
  minDays: z.number().int().min(1).optional(),
  maxDays: z.number().int().min(1).optional(),
});

const unlistedNamesSchema = z.enum(['empty', 'keep']).meta({
  description:
    "Person names (PN) Table E.1-1 does not list, such as SecondaryReviewerName or EvaluatorName: empty (default, our deviation from the table: no person's name reaches the archive) or keep (the strict table: kept, cleaned of the patient's names).",
});

const projectSchema = z.strictObject({
  profile: z.enum(['basic', 'tcia', 'none']).optional().meta({
    description:
      'basic, tcia (Basic + modified dates + patient characteristics + device identity + clean descriptors + safe private) or none (identifiable data; explicit opt-in).',
  }),
  options: optionsSchema.optional(),
  script: z
    .string()
    .min(1)
    .nullable()
    .optional()
    .meta({ description: 'A DicomEdit 6 script file run after the profile (paths relative to the config file).' }),
  scriptOnly: z
    .boolean()
    .optional()
    .meta({ description: 'Run the script instead of the profile (verification still applies).' }),
  pseudonyms: pseudonymsSchema.optional(),
  dateShift: dateShiftSchema.optional(),
  unlistedPersonNames: unlistedNamesSchema.optional(),
});

export const anonymiseConfig = z.strictObject({
  profile: z.enum(['basic', 'tcia', 'none']).default('basic').meta({
    description:
      'Default profile for every project (env XNAT_GATEWAY_ANON_PROFILE). none forwards identifiable data and is logged at start-up.',
  }),
  options: optionsSchema.prefault({}).meta({ description: 'Options on top of the profile preset, for every project.' }),
  script: z
    .string()
    .min(1)
    .nullable()
    .default(null)
    .meta({ description: 'Default DicomEdit 6 script file (null: none).' }),
  scriptOnly: z.boolean().default(false),
  pseudonyms: pseudonymsSchema.prefault({}),
  dateShift: dateShiftSchema.prefault({}),
  unlistedPersonNames: unlistedNamesSchema.default('empty'),
  keysDir: z.string().min(1).optional().meta({
    description:
      'Where the 256-bit project keys live (0600 files); default <dataDir>/keys. Back it up with the database: without the key, UIDs and dates can no longer be matched.',
  }),
  projects: z.record(projectId, projectSchema).default({}).meta({
    description: 'Per-project overrides of profile, options, script, pseudonyms, dateShift and unlistedPersonNames.',
  }),
});

export type AnonymiseConfig = z.output<typeof anonymiseConfig>;

const NO_OPTIONS: ProfileOptions = {
  retainLongitudinal: 'off',
  retainPatientCharacteristics: false,
  retainDeviceIdentity: false,
  retainInstitutionIdentity: false,
  retainUids: false,
  cleanDescriptors: false,
  retainSafePrivate: false,
  cleanStructuredContent: false,
  cleanGraphics: false,
};

/** The presets of the issue and reference/deid.md §5.1: strict Basic, and the TCIA-compatible set. */
export const PRESETS: Readonly<Record<'basic' | 'tcia', ProfileOptions>> = {
  basic: NO_OPTIONS,
  tcia: {
    ...NO_OPTIONS,
    retainLongitudinal: 'modified',
    retainPatientCharacteristics: true,
    retainDeviceIdentity: true,
    cleanDescriptors: true,
    retainSafePrivate: true,
  },
};

/** Everything the transform needs for one target project, defaults and overrides merged. */
export interface ProjectSettings {
  readonly project: string;
  readonly profile: 'basic' | 'tcia' | 'none';
  readonly options: ProfileOptions;
  readonly script: string | null;
  readonly scriptOnly: boolean;
  readonly mode: 'auto' | 'lookup';
  readonly subjectPattern: string;
  readonly sessionPattern: string;
  readonly dateShift: { readonly unit: 'days' | 'weeks'; readonly minDays: number; readonly maxDays: number };
  readonly unlistedPersonNames: 'empty' | 'keep';
}

/** The keys that are set, so an override of `undefined` never hides a default. */
function defined<T extends object>(o: T | undefined): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]?: Exclude<T[K], undefined>;
  };
}

export function settingsFor(cfg: AnonymiseConfig, project: string): ProjectSettings {
  const p = cfg.projects[project] ?? {};
  const profile = p.profile ?? cfg.profile;
  const base = profile === 'none' ? NO_OPTIONS : PRESETS[profile];
  const options: ProfileOptions = { ...base, ...defined(cfg.options), ...defined(p.options) };
  const ps = { ...defined(cfg.pseudonyms), ...defined(p.pseudonyms) };
  const ds = { ...defined(cfg.dateShift), ...defined(p.dateShift) };
  return {
    project,
    profile,
    options,
    script: p.script === undefined ? cfg.script : p.script,
    scriptOnly: p.scriptOnly ?? cfg.scriptOnly,
    mode: ps.mode ?? 'auto',
    subjectPattern: ps.subjectPattern ?? '{project}_{seq:06}',
    sessionPattern: ps.sessionPattern ?? '{subject}_{seq:02}',
    dateShift: { unit: ds.unit ?? 'days', minDays: ds.minDays ?? 365, maxDays: ds.maxDays ?? 3650 },
    unlistedPersonNames: p.unlistedPersonNames ?? cfg.unlistedPersonNames,
  };
}
