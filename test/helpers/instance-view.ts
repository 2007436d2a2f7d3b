//! An in-memory InstanceView for routing-rule tests: attributes by keyword, no file involved.
import { tagOfKeyword } from '../../src/dicom/dictionary.ts';
import type { InstanceView } from '../../src/transforms/route/types.ts';

/** An instance from keyword → values ('a\\b' splits; null = present but empty). */
export function view(attrs: Record<string, string | null>, sopClassUid = ''): InstanceView {
  const m = new Map<number, readonly string[]>();
  for (const [k, v] of Object.entries(attrs)) {
    const tag = tagOfKeyword(k);
    if (tag === undefined) {
      throw new Error(`unknown keyword ${k}`);
    }
    m.set(tag, v === null ? [] : v.split('\\'));
  }
  return { values: (tag) => m.get(tag), sopClassUid };
}
