//! Element values as text: decoding what is stored, encoding what we write (PS3.5 §6.2 padding rules).
import type { Element } from './dataset.ts';

/** VRs whose value is character data (everything else is binary and never decoded as text). */
export const TEXT_VRS = new Set([
  'AE',
  'AS',
  'CS',
  'DA',
  'DS',
  'DT',
  'IS',
  'LO',
  'LT',
  'PN',
  'SH',
  'ST',
  'TM',
  'UC',
  'UI',
  'UR',
  'UT',
]);

/** VRs whose values may hold free text or names, the ones that can carry identifying words. */
export const FREE_TEXT_VRS = new Set(['LO', 'LT', 'PN', 'SH', 'ST', 'UC', 'UT']);

/**
 * The value bytes as a Latin-1 string with the padding removed. Latin-1 maps bytes 1:1, so for any
 * character set the string holds the same bytes and searching it is a byte search.
 */
export function rawText(el: Element): string {
  if (!el.value) {
    return '';
  }
  return el.value.toString('latin1').replace(/[\0 ]+$/, '');
}

/** The values of a multi-valued text element, each trimmed of padding spaces. */
export function textValues(el: Element): string[] {
  const raw = rawText(el);
  if (raw === '') {
    return [];
  }
  return raw.split('\\').map((v) => v.replace(/^ +| +$/g, ''));
}

/** Encodes values for a text VR: joined with '\', padded to even length (NUL for UI, space otherwise). */
export function encodeText(vr: string, values: readonly string[]): Buffer {
  const s = values.join('\\');
  const padded = s.length % 2 ? s + (vr === 'UI' ? '\0' : ' ') : s;
  return Buffer.from(padded, 'latin1');
}

/** Replaces the value of `el` with text values and marks it for re-encoding. */
export function setText(el: Element, values: readonly string[]): void {
  el.value = encodeText(el.vr, values);
  el.items = null;
  el.dirty = true;
}

/** Makes the value zero-length (PS3.15 action Z). */
export function setEmpty(el: Element): void {
  el.value = Buffer.alloc(0);
  if (el.items) {
    el.items = [];
  }
  el.dirty = true;
}

/** Byte sizes of the fixed-length binary VRs, for dummy values. */
export const BINARY_SIZES: Readonly<Record<string, number>> = {
  AT: 4,
  FD: 8,
  FL: 4,
  SL: 4,
  SS: 2,
  SV: 8,
  UL: 4,
  US: 2,
  UV: 8,
};
