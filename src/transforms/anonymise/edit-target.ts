//! The DicomEdit interpreter's view of a parsed dataset: get/set/delete by tag path, list, private removal.
import type { Element, Item } from '../../dicom/dataset.ts';
import { vrOf } from '../../dicom/dictionary.ts';
import { BINARY_SIZES, rawText, setText } from '../../dicom/values.ts';
import type { EditTarget, PathStep, TagPath } from './dicomedit/target.ts';
import { newElement, put } from './insert.ts';

function isPrivateCreator(tag: number): boolean {
  const e = tag & 0xffff;
  return ((tag >>> 16) & 1) === 1 && e >= 0x10 && e <= 0xff;
}

/** Text of an element as DicomEdit sees it: multi-values joined with '\', binary numbers decoded (LE). */
function valueText(el: Element): string {
  if (el.items) {
    return '';
  }
  const size = BINARY_SIZES[el.vr];
  if (size && el.value && el.value.length % size === 0 && el.vr !== 'AT') {
    const out: string[] = [];
    for (let i = 0; i < el.value.length; i += size) {
      switch (el.vr) {
        case 'US':
          out.push(String(el.value.readUInt16LE(i)));
          break;
        case 'SS':
          out.push(String(el.value.readInt16LE(i)));
          break;
        case 'UL':
          out.push(String(el.value.readUInt32LE(i)));
          break;
        case 'SL':
          out.push(String(el.value.readInt32LE(i)));
          break;
        case 'FL':
          out.push(String(el.value.readFloatLE(i)));
          break;
        case 'FD':
          out.push(String(el.value.readDoubleLE(i)));
          break;
        default:
          out.push(el.value.subarray(i, i + size).toString('hex'));
      }
    }
    return out.join('\\');
  }
  return rawText(el)
    .split('\\')
    .map((v) => v.trim())
    .join('\\');
}

/** Numbers for a binary VR (little endian, as in every syntax but the retired big endian). */
function encodeNumbers(vr: string, text: string): Buffer {
  const values = text.split('\\').map((v) => Number(v.trim()));
  if (values.some((n) => !Number.isFinite(n))) {
    throw new Error(`Not a number for VR ${vr}.`);
  }
  const size = BINARY_SIZES[vr] ?? 0;
  const b = Buffer.alloc(values.length * size);
  values.forEach((n, i) => {
    const at = i * size;
    switch (vr) {
      case 'US':
        b.writeUInt16LE(n, at);
        break;
      case 'SS':
        b.writeInt16LE(n, at);
        break;
      case 'UL':
        b.writeUInt32LE(n, at);
        break;
      case 'SL':
        b.writeInt32LE(n, at);
        break;
      case 'FL':
        b.writeFloatLE(n, at);
        break;
      case 'FD':
        b.writeDoubleLE(n, at);
        break;
      default:
        throw new Error(`Cannot write VR ${vr} from text.`);
    }
  });
  return b;
}

/** The element lists a path's parent steps lead to (several with 'any' items). */
function parents(
  root: Element[],
  steps: readonly PathStep[],
  create: boolean,
): { list: Element[]; item: Item | null }[] {
  let level: { list: Element[]; item: Item | null }[] = [{ list: root, item: null }];
  for (const step of steps) {
    const next: { list: Element[]; item: Item | null }[] = [];
    for (const { list } of level) {
      let el = list.find((e) => e.tag === step.tag);
      if (!el && create) {
        el = { tag: step.tag, vr: 'SQ', start: -1, end: -1, value: null, items: [], encapsulated: false, dirty: true };
        put(list, el);
      }
      if (!el?.items) {
        continue;
      }
      if (step.item === 'any' || step.item === undefined) {
        for (const it of el.items) {
          next.push({ list: it.elements, item: it });
        }
      } else {
        while (create && el.items.length <= step.item) {
          el.items.push({ start: -1, end: -1, elements: [], dirty: true });
        }
        const it = el.items[step.item];
        if (it) {
          next.push({ list: it.elements, item: it });
        }
      }
    }
    level = next;
  }
  return level;
}

function creatorIn(list: readonly Element[], tag: number): string | undefined {
  const block = (tag & 0xff00) >>> 8;
  if (((tag >>> 16) & 1) === 0 || block < 0x10) {
    return undefined;
  }
  const c = list.find((e) => e.tag === ((tag & 0xffff0000) | block) >>> 0);
  return c ? rawText(c).trim() : undefined;
}

function stripPrivate(list: Element[]): boolean {
  let changed = false;
  for (let i = list.length - 1; i >= 0; i--) {
    const el = list[i];
    if (!el) {
      continue;
    }
    if (((el.tag >>> 16) & 1) === 1) {
      list.splice(i, 1);
      changed = true;
    } else if (el.items) {
      for (const it of el.items) {
        if (stripPrivate(it.elements)) {
          it.dirty = true;
        }
      }
    }
  }
  return changed;
}

/** An EditTarget over `root` (a top-level element list, edited in place). */
export function editTarget(root: Element[]): EditTarget {
  return {
    get(path: TagPath) {
      const last = path.at(-1);
      if (!last) {
        return undefined;
      }
      for (const { list } of parents(root, path.slice(0, -1), false)) {
        const el = list.find((e) => e.tag === last.tag);
        if (el) {
          return valueText(el);
        }
      }
      return undefined;
    },
    set(path: TagPath, value: string) {
      const last = path.at(-1);
      if (!last) {
        return;
      }
      for (const { list, item } of parents(root, path.slice(0, -1), true)) {
        const existing = list.find((e) => e.tag === last.tag);
        if (existing && !existing.items && BINARY_SIZES[existing.vr]) {
          existing.value = encodeNumbers(existing.vr, value);
          existing.dirty = true;
        } else if (existing && !existing.items) {
          if (existing.vr === 'UN') {
            existing.vr = vrOf(existing.tag) === 'UN' ? 'LO' : vrOf(existing.tag);
          }
          setText(existing, value.split('\\'));
        } else {
          const vr = isPrivateCreator(last.tag) ? 'LO' : vrOf(last.tag) === 'UN' ? 'LO' : vrOf(last.tag);
          put(list, newElement(last.tag, value.split('\\'), BINARY_SIZES[vr] ? 'LO' : vr));
        }
        if (item) {
          item.dirty = true;
        }
      }
    },
    delete(path: TagPath) {
      const last = path.at(-1);
      if (!last) {
        return;
      }
      for (const { list, item } of parents(root, path.slice(0, -1), false)) {
        const i = list.findIndex((e) => e.tag === last.tag);
        if (i >= 0) {
          list.splice(i, 1);
          if (item) {
            item.dirty = true;
          }
        }
      }
    },
    list() {
      const out: { path: TagPath; vr: string; creator?: string }[] = [];
      const visit = (list: readonly Element[], prefix: PathStep[]): void => {
        for (const el of list) {
          const creator = creatorIn(list, el.tag);
          out.push(
            creator === undefined
              ? { path: [...prefix, { tag: el.tag }], vr: el.vr }
              : { path: [...prefix, { tag: el.tag }], vr: el.vr, creator },
          );
          el.items?.forEach((it, n) => {
            visit(it.elements, [...prefix, { tag: el.tag, item: n }]);
          });
        }
      };
      visit(root, []);
      return out;
    },
    removeAllPrivateTags() {
      stripPrivate(root);
    },
  };
}
