//! What a DicomEdit script edits and calls out to: the host implements these over its dataset model.
// The interpreter never sees a dataset type. Keeping the surface this small lets it run on the
// gateway's own dataset code, and on a plain nested map in tests.

/** One step of a path: a tag and, for a step that goes into a sequence, which item(s). */
export type PathStep = { readonly tag: number; readonly item?: number | 'any' };

/** Root-to-element steps; the last step is the element itself (no item). Items count from 0. */
export type TagPath = readonly PathStep[];

export interface EditTarget {
  /**
   * The value as text (multi-valued joined with '\\'), undefined only when absent. A present but
   * empty element, and a present sequence, give ''. With 'any' items, the first match (depth-first).
   */
  get(path: TagPath): string | undefined;
  /**
   * Sets the value, creating the element (VR from the dictionary; LO for a private creator element
   * (gggg,0010-00FF)) and any missing intermediate sequence and items. The interpreter only passes
   * concrete paths (numeric items).
   */
  set(path: TagPath, value: string): void;
  /** Removes the element (a sequence with all its items) at a concrete path; absent is a no-op. */
  delete(path: TagPath): void;
  /**
   * Every element present, depth-first, with concrete items: sequences too, then their items'
   * elements. `creator` is the private creator of the element's block (the value of (gggg,00bb) in
   * the same item) for a private data element (gggg,bbxx) with bb ≥ 0x10; absent otherwise.
   */
  list(): readonly { path: TagPath; vr: string; creator?: string }[];
  /** Removes every element of an odd group, at every depth, creator elements included. */
  removeAllPrivateTags(): void;
}

export interface ScriptHost {
  /** The project-keyed UID hash the PS3.15 profile uses, so a UID maps the same in both. */
  hashUid(value: string): string;
  /** A new UID for `newUID[]`; the host decides how (deterministic from the instance, ideally). */
  newUid(): string;
  /** For `echo` and warnings; messages may hold element values, so log them at debug only. */
  log?(message: string): void;
}
