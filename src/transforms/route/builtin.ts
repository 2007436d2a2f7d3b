//! The built-in rule sets: missing identifiers (fail closed) and pixels that may carry patient data.
// They run without any rule file. Missing Modality is always on: neither protocol.txt nor a rule
// can judge an instance that does not say what it is. The burned-in checks follow reference/deid.md
// §5.7 (the deid blacklist and CTP's filters); each check that fires adds its own reason, so an
// operator sees every cause at once.
import { keywordOf } from '../../dicom/dictionary.ts';
import { valuesOf, type ShowValues } from './attribute-values.ts';
import type { InstanceView, RouteReason, RuleInputs } from './types.ts';

/** The built-in settings, validated: modalities upper-cased, series descriptions compiled. */
export interface Builtin {
  readonly missingIdentifiers: boolean;
  readonly burnedIn: {
    readonly enabled: boolean;
    readonly modalities: ReadonlySet<string>;
    readonly seriesDescriptions: readonly RegExp[];
  };
}

const MODALITY = 0x00080060;
const IMAGE_TYPE = 0x00080008;
const CONVERSION_TYPE = 0x00080064;
const SERIES_DESCRIPTION = 0x0008103e;
const BURNED_IN_ANNOTATION = 0x00280301;
const RECOGNIZABLE_VISUAL_FEATURES = 0x00280302;
// XNAT files a session by PatientName (subject), PatientID (session label) and StudyInstanceUID.
const IDENTIFIERS = [0x00100010, 0x00100020, 0x0020000d];
// ImageType values that mark a screen capture or a report rendered into pixels.
const RISKY_IMAGE_TYPES = new Set(['SCREEN SAVE', 'SAVE', 'REPORT', 'REPORTDATA', 'DEMOGRAPHICDATA', 'CSA REPORT']);
// Secondary Capture (single-frame, and the four multi-frame classes) and encapsulated PDF and CDA:
// pictures of screens and documents, where burned-in names are the rule rather than the exception.
const RISKY_SOP_CLASSES = new Set([
  '1.2.840.10008.5.1.4.1.1.7',
  '1.2.840.10008.5.1.4.1.1.7.1',
  '1.2.840.10008.5.1.4.1.1.7.2',
  '1.2.840.10008.5.1.4.1.1.7.3',
  '1.2.840.10008.5.1.4.1.1.7.4',
  '1.2.840.10008.5.1.4.1.1.104.1',
  '1.2.840.10008.5.1.4.1.1.104.2',
]);

/**
 * Validates the built-in settings. An invalid SeriesDescription pattern is appended to `problems`
 * as `builtin.burnedIn.seriesDescriptions[i]: …`.
 */
export function compileBuiltin(settings: RuleInputs['builtin'], problems: string[]): Builtin {
  const seriesDescriptions: RegExp[] = [];
  settings.burnedIn.seriesDescriptions.forEach((source, i) => {
    try {
      seriesDescriptions.push(new RegExp(source, 'iu'));
    } catch (err) {
      problems.push(
        `builtin.burnedIn.seriesDescriptions[${String(i)}]: invalid regular expression: ${(err as Error).message}`,
      );
    }
  });
  return {
    missingIdentifiers: settings.missingIdentifiers,
    burnedIn: {
      enabled: settings.burnedIn.enabled,
      modalities: new Set(settings.burnedIn.modalities.map((m) => m.trim().toUpperCase())),
      seriesDescriptions,
    },
  };
}

/** Step 1 of evaluation: a missing Modality (always) and missing identifiers (when switched on). */
export function missingReasons(b: Builtin, instance: InstanceView): RouteReason[] {
  const reasons: RouteReason[] = [];
  if (valuesOf(instance, MODALITY).length === 0) {
    reasons.push({
      rule: 'builtin:missing-modality',
      source: 'builtin',
      attribute: 'Modality',
      message: 'Modality is missing or empty, so no rule can judge the instance.',
      instances: 1,
    });
  }
  if (b.missingIdentifiers) {
    for (const tag of IDENTIFIERS) {
      if (valuesOf(instance, tag).length === 0) {
        const keyword = keywordOf(tag) ?? '';
        reasons.push({
          rule: 'builtin:missing-identifier',
          source: 'builtin',
          attribute: keyword,
          message: `${keyword} is missing or empty; XNAT needs it to file the session.`,
          instances: 1,
        });
      }
    }
  }
  return reasons;
}

/** Step 3 of evaluation: the burned-in checks (none when the set is switched off). */
export function burnedInReasons(b: Builtin, instance: InstanceView, show: ShowValues): RouteReason[] {
  if (!b.burnedIn.enabled) {
    return [];
  }
  const reasons: RouteReason[] = [];
  const add = (rule: string, tag: number, message: string, matched: readonly string[]): void => {
    const values = show(tag, matched);
    const attribute = keywordOf(tag) ?? '';
    reasons.push({ rule, source: 'builtin', attribute, message, instances: 1, ...(values ? { values } : {}) });
  };
  const yes = (tag: number): string[] => valuesOf(instance, tag).filter((v) => v.toUpperCase() === 'YES');

  const annotated = yes(BURNED_IN_ANNOTATION);
  if (annotated.length > 0) {
    add(
      'builtin:burned-in-annotation',
      BURNED_IN_ANNOTATION,
      'BurnedInAnnotation is YES: the pixels carry text.',
      annotated,
    );
  }
  const recognizable = yes(RECOGNIZABLE_VISUAL_FEATURES);
  if (recognizable.length > 0) {
    add(
      'builtin:recognizable-features',
      RECOGNIZABLE_VISUAL_FEATURES,
      'RecognizableVisualFeatures is YES: a face may be recognised.',
      recognizable,
    );
  }
  // Positional: an empty value 1 must not shift value 2 into its place, so no valuesOf() here.
  const imageType = riskyImageType((instance.values(IMAGE_TYPE) ?? []).map((v) => v.trim()));
  if (imageType.length > 0) {
    add('builtin:image-type', IMAGE_TYPE, 'ImageType marks a secondary capture, screen save or report.', imageType);
  }
  const sopClass = instance.sopClassUid.trim();
  if (RISKY_SOP_CLASSES.has(sopClass)) {
    // SOP Class UIDs are registered constants, never patient data: always shown.
    reasons.push({
      rule: 'builtin:sop-class',
      source: 'builtin',
      attribute: 'SOPClassUID',
      message: 'The SOP Class is a Secondary Capture or an encapsulated document.',
      values: [sopClass],
      instances: 1,
    });
  }
  const modalities = valuesOf(instance, MODALITY).filter((m) => b.burnedIn.modalities.has(m.toUpperCase()));
  if (modalities.length > 0) {
    add('builtin:modality', MODALITY, 'The modality often carries patient data in its pixels.', modalities);
  }
  const descriptions = valuesOf(instance, SERIES_DESCRIPTION).filter((d) =>
    b.burnedIn.seriesDescriptions.some((re) => re.test(d)),
  );
  if (descriptions.length > 0) {
    add(
      'builtin:series-description',
      SERIES_DESCRIPTION,
      'SeriesDescription names a dose report, screen capture or similar.',
      descriptions,
    );
  }
  // Present at all, even empty: only secondary-capture equipment writes ConversionType.
  const conversion = instance.values(CONVERSION_TYPE);
  if (conversion !== undefined) {
    add(
      'builtin:conversion-type',
      CONVERSION_TYPE,
      'ConversionType is present: the image was captured or converted, not acquired.',
      valuesOf(instance, CONVERSION_TYPE),
    );
  }
  return reasons;
}

// Value 2 (index 1) is PRIMARY or SECONDARY; any value may name a screen save or a report.
function riskyImageType(values: readonly string[]): string[] {
  const upper = values.map((v) => v.toUpperCase());
  const hits = upper.filter((v) => RISKY_IMAGE_TYPES.has(v));
  return upper[1] === 'SECONDARY' ? ['SECONDARY', ...hits] : hits;
}
