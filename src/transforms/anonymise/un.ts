//! Public attributes stored with VR UN: read with their dictionary VR (PS3.5 §6.2.2) or refused.
// A node that did not know an attribute relays it as UN when converting implicit to explicit VR.
// Its value bytes are those of the original VR, so text (UIDs, names, dates, free text) can be
// read as what the dictionary says it is, and must be: otherwise a SOP Instance UID would be
// "dummied" into two NUL bytes and a name in LUT Explanation would never be cleaned.
import type { Element } from '../../dicom/dataset.ts';
import { HeaderError } from '../../dicom/elements.ts';
import { formatTag, vrOf } from '../../dicom/dictionary.ts';
import { TEXT_VRS } from '../../dicom/values.ts';
import type { ActionCode } from './table.ts';

/** VRs with a 16-bit length in explicit VR: a longer UN value cannot be written back as them. */
const SHORT_TEXT = new Set(['AE', 'AS', 'CS', 'DA', 'DS', 'DT', 'IS', 'LO', 'LT', 'PN', 'SH', 'ST', 'TM', 'UI']);

/**
 * Gives a public UN element (not a sequence) the VR it is read and written with, and returns the
 * VR its value is to be treated as. Text VRs become the element's VR (re-encoded with it). Binary
 * values keep UN: their byte order may be that of another syntax, and the profile only removes,
 * empties or zeroes them. Throws (the instance is refused) when the action needs the value and
 * it cannot be read: a sequence whose items do not parse, or an attribute the dictionary lacks.
 */
export function resolveUn(el: Element, action: ActionCode | null): string {
  const vr = vrOf(el.tag);
  const removesOrEmpties = action === 'X' || action === 'Z';
  if (vr === 'SQ' || vr === 'UN') {
    if (removesOrEmpties || action === null || action === 'K') {
      return 'UN';
    }
    throw new HeaderError(
      `${formatTag(el.tag)} is stored as UN and cannot be read as ${vr === 'SQ' ? 'a sequence' : 'any known VR'}, but Table E.1-1 says ${action} for it`,
    );
  }
  if (!TEXT_VRS.has(vr)) {
    return vr;
  }
  const length = el.value?.length ?? 0;
  if (SHORT_TEXT.has(vr) && length > 0xffff) {
    if (removesOrEmpties) {
      return 'UN';
    }
    throw new HeaderError(
      `${formatTag(el.tag)} is stored as UN with ${String(length)} bytes, too long for its VR ${vr}`,
    );
  }
  el.vr = vr;
  el.dirty = true;
  return vr;
}
