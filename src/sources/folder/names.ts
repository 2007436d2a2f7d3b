//! Which names in a drop are operating-system clutter, and which mean "a copy is still in progress".

// Files and folders that desktop OSes leave on shares. They are never DICOM and never worth a
// rejected.json entry: skipped quietly, and they leave with the drop when it is released.
const OS_FILES = new Set(['.ds_store', 'thumbs.db', 'ehthumbs.db', 'desktop.ini', '.directory', 'icon\r']);
const OS_FOLDERS = new Set([
  '.spotlight-v100',
  '.trashes',
  '.fseventsd',
  '.temporaryitems',
  '$recycle.bin',
  'system volume information',
  '__macosx',
]);

/** True for OS clutter (`.DS_Store`, `Thumbs.db`, `desktop.ini`, AppleDouble `._*` files, …). */
export function isOsClutter(name: string, isDirectory: boolean): boolean {
  const n = name.toLowerCase();
  if (isDirectory) {
    return OS_FOLDERS.has(n);
  }
  return OS_FILES.has(n) || n.startsWith('._');
}

/** Compiles simple name patterns (`*` = any run of characters) into one matcher. */
export function nameMatcher(patterns: readonly string[]): (name: string) => boolean {
  if (!patterns.length) {
    return () => false;
  }
  const alternatives = patterns.map((p) =>
    p
      .split('*')
      .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*'),
  );
  const re = new RegExp(`^(?:${alternatives.join('|')})$`, 'i');
  return (name) => re.test(name);
}

/**
 * A file name that is not valid UTF-8 (written by an old Windows or a Latin-1 system) as a string
 * we can show, store and turn back into its bytes: every byte of an invalid sequence, and every
 * `%`, becomes `%XX`. Node would otherwise decode it to U+FFFD, a name that opens nothing.
 */
export function escapeName(raw: Buffer): string {
  let out = '';
  let i = 0;
  while (i < raw.length) {
    const n = utf8Length(raw, i);
    if (n === 0) {
      out += `%${(raw[i] ?? 0).toString(16).toUpperCase().padStart(2, '0')}`;
      i++;
      continue;
    }
    const ch = raw.toString('utf8', i, i + n);
    out += ch === '%' ? '%25' : ch;
    i += n;
  }
  return out;
}

/** The bytes `escapeName` made `name` from. */
export function unescapeName(name: string): Buffer {
  const parts: Buffer[] = [];
  let last = 0;
  for (const m of name.matchAll(/%([0-9A-F]{2})/g)) {
    parts.push(Buffer.from(name.slice(last, m.index), 'utf8'), Buffer.from([Number.parseInt(m[1] ?? '0', 16)]));
    last = m.index + 3;
  }
  parts.push(Buffer.from(name.slice(last), 'utf8'));
  return Buffer.concat(parts);
}

/** Length of the well-formed UTF-8 sequence starting at `i`, or 0 when it is not one. */
function utf8Length(b: Buffer, i: number): number {
  const c = b[i] ?? 0;
  const cont = (k: number): boolean => ((b[i + k] ?? 0) & 0xc0) === 0x80;
  if (c < 0x80) {
    return 1;
  }
  if (c >= 0xc2 && c <= 0xdf) {
    return cont(1) ? 2 : 0;
  }
  if (c >= 0xe0 && c <= 0xef) {
    const c1 = b[i + 1] ?? 0;
    if ((c === 0xe0 && c1 < 0xa0) || (c === 0xed && c1 > 0x9f)) {
      return 0;
    }
    return cont(1) && cont(2) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const c1 = b[i + 1] ?? 0;
    if ((c === 0xf0 && c1 < 0x90) || (c === 0xf4 && c1 > 0x8f)) {
      return 0;
    }
    return cont(1) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}
