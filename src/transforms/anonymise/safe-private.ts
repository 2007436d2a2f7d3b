//! PS3.15 Table E.3.10-1: the private attributes Retain Safe Private Attributes may keep.
// Generated from the Standard like Table E.1-1 (docs/adr/0007); looked up by creator, group, the low
// byte of the element and VR, because a private element has no fixed tag of its own.
import { TABLES } from './table-load.ts';

/** The Table E.3.10-1 edition (the newest DocBook edition available to the generator). */
export const SAFE_PRIVATE_EDITION: string = TABLES.safePrivateEdition;
export const SAFE_PRIVATE_ROWS: number = TABLES.safePrivate.length;

const safePrivate = new Map(
  TABLES.safePrivate.map((r) => [`${r.creator}\0${String(r.group)}\0${String(r.element)}`, r]),
);

/**
 * Whether Table E.3.10-1 lists the private element (group, xx`elementLow`) of block `creator` with
 * this VR. The creator must match exactly (after the LO padding is trimmed): private creators are
 * case-sensitive identifiers. `elementLow` may be the whole element; only its low byte is used.
 * VR "UN" (implicit VR files, unknown private dictionaries) matches any listed VR, since the
 * creator and element already identify the attribute; rows with no VR in the table match any VR.
 */
export function isSafePrivate(creator: string, group: number, elementLow: number, vr: string): boolean {
  const row = safePrivate.get(`${creator.trim()}\0${String(group)}\0${String(elementLow & 0xff)}`);
  if (!row) {
    return false;
  }
  return row.vrs === null || vr === 'UN' || row.vrs.includes(vr);
}
