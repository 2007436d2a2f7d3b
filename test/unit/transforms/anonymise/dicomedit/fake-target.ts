//! An in-memory EditTarget for the DicomEdit tests: nested maps, elements named by path text.
import type { EditTarget, ScriptHost, TagPath } from '../../../../../src/transforms/anonymise/dicomedit/target.ts';

interface Node {
  vr: string;
  value: string;
  items?: Item[];
}
type Item = Map<number, Node>;

export interface FakeTarget extends EditTarget {
  /** Every element that is not a sequence, "(gggg,eeee)[i]/(gggg,eeee)" → value, in listing order. */
  dump(): Record<string, string>;
  /** How many items the sequence at the path text has (undefined when absent). */
  items(path: string): number | undefined;
}

const STEP = /^\(([0-9A-F]{4}),([0-9A-F]{4})\)(?:\[(\d+)\])?$/i;

/** "(0008,1115)[0]/(0008,1155)" → path. */
export function path(text: string): TagPath {
  return text.split('/').map((s) => {
    const m = STEP.exec(s.trim());
    if (!m?.[1] || !m[2]) {
      throw new Error(`bad path text ${text}`);
    }
    const tag = ((parseInt(m[1], 16) << 16) | parseInt(m[2], 16)) >>> 0;
    return m[3] === undefined ? { tag } : { tag, item: Number(m[3]) };
  });
}

function text(p: TagPath): string {
  return p
    .map((s) => {
      const h = s.tag.toString(16).toUpperCase().padStart(8, '0');
      return `(${h.slice(0, 4)},${h.slice(4)})${s.item === undefined ? '' : `[${String(s.item)}]`}`;
    })
    .join('/');
}

const VR: Record<number, string> = { 0x00080020: 'DA', 0x00080021: 'DA', 0x0008002a: 'DT', 0x00100030: 'DA' };

/** A dataset holding the given elements (path text → value); sequences and items are implied. */
export function fakeTarget(elements: Record<string, string> = {}): FakeTarget {
  const root: Item = new Map();

  const creatorOf = (item: Item, tag: number): string | undefined => {
    const element = tag & 0xffff;
    if ((tag >>> 16) % 2 === 0 || element < 0x1000) {
      return undefined;
    }
    return item.get(((tag & 0xffff0000) | (element >>> 8)) >>> 0)?.value.trim();
  };

  // The items the steps lead to (every step names an item; 'any' fans out), depth-first.
  const itemsAt = (item: Item, steps: TagPath): Item[] => {
    const [step, ...rest] = steps;
    if (!step) {
      return [item];
    }
    const items = item.get(step.tag)?.items ?? [];
    const n = typeof step.item === 'number' ? step.item : 0;
    return (step.item === 'any' ? items : items.slice(n, n + 1)).flatMap((i) => itemsAt(i, rest));
  };
  const find = (p: TagPath): Node[] => {
    const last = p[p.length - 1];
    return last ? itemsAt(root, p.slice(0, -1)).flatMap((i) => i.get(last.tag) ?? []) : [];
  };

  const target: FakeTarget = {
    get: (p) => find(p)[0]?.value,
    set: (p, value) => {
      let item = root;
      for (const [i, step] of p.entries()) {
        if (i === p.length - 1) {
          const odd = (step.tag >>> 16) % 2 === 1 && (step.tag & 0xffff) >= 0x10 && (step.tag & 0xffff) <= 0xff;
          item.set(step.tag, { vr: odd ? 'LO' : (VR[step.tag] ?? 'LO'), value });
          return;
        }
        if (typeof step.item !== 'number') {
          throw new Error('the interpreter must only set concrete paths');
        }
        const node = item.get(step.tag) ?? { vr: 'SQ', value: '', items: [] };
        node.vr = 'SQ';
        node.items ??= [];
        item.set(step.tag, node);
        while (node.items.length <= step.item) {
          node.items.push(new Map());
        }
        item = node.items[step.item] ?? new Map<number, Node>();
      }
    },
    delete: (p) => {
      const last = p[p.length - 1];
      for (const parent of last ? itemsAt(root, p.slice(0, -1)) : []) {
        parent.delete(last?.tag ?? 0);
      }
    },
    list: () => {
      const out: { path: TagPath; vr: string; creator?: string }[] = [];
      const walk = (item: Item, prefix: TagPath): void => {
        for (const tag of [...item.keys()].sort((a, b) => a - b)) {
          const node = item.get(tag);
          if (!node) {
            continue;
          }
          const creator = creatorOf(item, tag);
          out.push(
            creator === undefined
              ? { path: [...prefix, { tag }], vr: node.vr }
              : { path: [...prefix, { tag }], vr: node.vr, creator },
          );
          node.items?.forEach((child, i) => {
            walk(child, [...prefix, { tag, item: i }]);
          });
        }
      };
      walk(root, []);
      return out;
    },
    removeAllPrivateTags: () => {
      const walk = (item: Item): void => {
        for (const [tag, node] of [...item]) {
          if ((tag >>> 16) % 2 === 1) {
            item.delete(tag);
          } else {
            node.items?.forEach(walk);
          }
        }
      };
      walk(root);
    },
    dump: () =>
      Object.fromEntries(
        target
          .list()
          .filter((e) => e.vr !== 'SQ')
          .map((e) => [text(e.path), target.get(e.path) ?? '']),
      ),
    items: (p) => find(path(p))[0]?.items?.length,
  };
  for (const [p, value] of Object.entries(elements)) {
    target.set(path(p), value);
  }
  return target;
}

/** A host whose hash and new UIDs are recognisable, and which records what the script logs. */
export function fakeHost(): ScriptHost & { readonly logged: string[]; readonly hashed: string[] } {
  const logged: string[] = [];
  const hashed: string[] = [];
  let n = 0;
  return {
    logged,
    hashed,
    hashUid: (value) => {
      hashed.push(value);
      return `2.25.${String(value.length)}${value.replaceAll('.', '')}`;
    },
    newUid: () => `2.25.999${String(++n)}`,
    log: (message) => {
      logged.push(message);
    },
  };
}
