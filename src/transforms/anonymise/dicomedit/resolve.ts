//! Path patterns against an EditTarget: reading, matching, private-block resolution, counted edits.
// The host's listing is walked only when a pattern needs it (wildcards, creators, item deletes) and
// is cached until the next edit, so a script of plain tags costs one get/set per statement.
import { exactTag, isPrivatePattern, matchPath, pathKey, toPlainPath, type PathPattern } from './tags.ts';
import type { EditTarget, PathStep, TagPath } from './target.ts';

type Entry = ReturnType<EditTarget['list']>[number];

export interface PathOps {
  /** The value of a singular pattern's element ('%' items: the first match). */
  get(p: PathPattern): string | undefined;
  /** The value at a concrete path. */
  read(path: TagPath): string | undefined;
  exists(p: PathPattern): boolean;
  /** Present elements matching the pattern, depth-first. */
  matches(p: PathPattern): Entry[];
  /**
   * A concrete pattern's path for creating its element: each `{Creator}` step goes to the first
   * block that creator holds in that item, or to the lowest free block, which it then reserves.
   */
  create(p: PathPattern): TagPath | undefined;
  /** Sets the value (counted when it changed). */
  set(path: TagPath, value: string): void;
  /** Deletes the element (counted when it was there). */
  delete(path: TagPath): void;
  /** Deletes every match, skipping those inside a sequence already deleted. */
  deleteAll(p: PathPattern): void;
  /** Empties the items named by the last step (`(gggg,eeee)[n]` or `[%]`), keeping the items. */
  clearItems(p: PathPattern): void;
  removeAllPrivateTags(): void;
  /** Elements created, changed or deleted so far. */
  readonly changed: number;
}

export function createPathOps(target: EditTarget): PathOps {
  let cache: { entries: readonly Entry[]; byKey: Map<string, Entry> } | undefined;
  let changed = 0;
  const edited = (count: number): void => {
    changed += count;
    cache = count > 0 ? undefined : cache;
  };
  const listing = (): NonNullable<typeof cache> => {
    if (!cache) {
      const entries = target.list();
      cache = { entries, byKey: new Map(entries.map((e) => [pathKey(e.path), e])) };
    }
    return cache;
  };
  // The creator of step `depth` of a listed path: that of the (sequence) element the step names.
  const creatorAt = (path: TagPath, depth: number): string | undefined => {
    const step = path[depth];
    return step && listing().byKey.get(pathKey([...path.slice(0, depth), { tag: step.tag }]))?.creator;
  };
  const matches = (p: PathPattern): Entry[] =>
    listing().entries.filter((e) => matchPath(p, e.path, (d) => creatorAt(e.path, d)));
  const get = (p: PathPattern): string | undefined => {
    const plain = toPlainPath(p);
    if (plain) {
      return target.get(plain);
    }
    const first = matches(p)[0];
    return first && target.get(first.path);
  };
  const set = (path: TagPath, value: string): void => {
    if (target.get(path) !== value) {
      target.set(path, value);
      edited(1);
    }
  };

  // The block (gggg,00bb) whose value is `creator` in the item at `parent`, or a free one reserved.
  const block = (parent: TagPath, group: number, creator: string): number => {
    const parentKey = pathKey(parent);
    const here = listing().entries.filter((e) => {
      const last = e.path[e.path.length - 1];
      return (
        e.path.length === parent.length + 1 &&
        last !== undefined &&
        last.tag >>> 16 === group &&
        pathKey(e.path.slice(0, -1)) === parentKey
      );
    });
    const used = new Set<number>();
    for (const e of here) {
      const element = (e.path[e.path.length - 1]?.tag ?? 0) & 0xffff;
      const b = element <= 0xff ? element : element >>> 8;
      if (element >= 0x10 && element <= 0xff && target.get(e.path)?.trim() === creator) {
        return element;
      }
      used.add(b);
    }
    const free = Array.from({ length: 0xf0 }, (_, i) => i + 0x10).find((b) => !used.has(b));
    if (free === undefined) {
      throw new Error('no free private block in this group');
    }
    set([...parent, { tag: ((group << 16) | free) >>> 0 }], creator);
    return free;
  };

  const create = (p: PathPattern): TagPath | undefined => {
    const out: PathStep[] = [];
    for (const [i, s] of p.entries()) {
      if (s.kind !== 'tag') {
        return undefined;
      }
      let tag = exactTag(s.tag);
      if (isPrivatePattern(s.tag)) {
        const group = parseInt(s.tag.group, 16);
        const b = block(out, group, s.tag.creator);
        tag = ((group << 16) | (b << 8) | parseInt(s.tag.low, 16)) >>> 0;
      }
      if (tag === undefined) {
        return undefined;
      }
      if (i === p.length - 1) {
        out.push({ tag });
      } else if (typeof s.item === 'number') {
        out.push({ tag, item: s.item });
      } else {
        return undefined;
      }
    }
    return out;
  };

  return {
    get,
    read: (path) => target.get(path),
    exists: (p) => (toPlainPath(p) ? get(p) !== undefined : matches(p).length > 0),
    matches,
    create,
    set,
    delete: (path) => {
      if (target.get(path) !== undefined) {
        target.delete(path);
        edited(1);
      }
    },
    deleteAll: (p) => {
      const gone = new Set<string>();
      let count = 0;
      for (const e of matches(p)) {
        const inside = e.path.some(
          (_, d) => d < e.path.length - 1 && gone.has(pathKey([...e.path.slice(0, d), { tag: e.path[d]?.tag ?? 0 }])),
        );
        if (!inside) {
          target.delete(e.path);
          gone.add(pathKey(e.path));
          count++;
        }
      }
      edited(count);
    },
    clearItems: (p) => {
      const last = p[p.length - 1];
      if (last?.kind !== 'tag' || last.item === undefined) {
        return;
      }
      const wanted = last.item;
      const sequences = new Set(
        matches([...p.slice(0, -1), { kind: 'tag', tag: last.tag }]).map((e) => pathKey(e.path)),
      );
      const children = listing().entries.filter((e) => {
        const step = e.path[e.path.length - 2];
        const parent = e.path.slice(0, -2);
        return (
          step?.item !== undefined &&
          (wanted === 'any' || step.item === wanted) &&
          sequences.has(pathKey([...parent, { tag: step.tag }]))
        );
      });
      children.forEach((e) => {
        target.delete(e.path);
      });
      edited(children.length);
    },
    removeAllPrivateTags: () => {
      const before = listing().entries.length;
      target.removeAllPrivateTags();
      cache = undefined;
      edited(before - listing().entries.length);
    },
    get changed() {
      return changed;
    },
  };
}
