//! The attribute helpers the rule sets share: how an attribute's values are read, and which a reason may show.
// Used by the YAML rules (conditions.ts, rule-set.ts), the built-in sets and protocol.txt alike, so
// every source of rules reads values the same way and none can show an identifying value.
import type { InstanceView } from './types.ts';

/** Which values of an attribute a reason may carry: undefined when none may be shown. */
export type ShowValues = (tag: number, values: readonly string[]) => readonly string[] | undefined;

const MAX_VALUES = 5;
const MAX_VALUE_CHARS = 64;
const SOP_CLASS_UID = 0x00080016;

/**
 * The trimmed, non-empty values of an attribute ([] when absent or empty). SOPClassUID falls back
 * to the File Meta's MediaStorageSOPClassUID, as InstanceView.sopClassUid does.
 */
export function valuesOf(instance: InstanceView, tag: number): string[] {
  const raw =
    instance.values(tag) ?? (tag === SOP_CLASS_UID && instance.sopClassUid !== '' ? [instance.sopClassUid] : []);
  return raw.map((v) => v.trim()).filter((v) => v !== '');
}

/** At most 5 distinct values, each cut to 64 characters; undefined when there are none. */
export function capValues(values: Iterable<string>): readonly string[] | undefined {
  const out = new Set<string>();
  for (const v of values) {
    if (out.size === MAX_VALUES) {
      break;
    }
    out.add(v.slice(0, MAX_VALUE_CHARS));
  }
  return out.size > 0 ? [...out] : undefined;
}

/** The value policy of a rule set: values are shown only for attributes that cannot identify a patient. */
export function valuePolicy(identifying: (tag: number) => boolean): ShowValues {
  return (tag, values) => (identifying(tag) ? undefined : capValues(values));
}
