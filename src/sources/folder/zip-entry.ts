//! Which entries of a dropped zip are extracted: regular files, stored or deflated, unencrypted, under a safe name.
import type { Entry } from 'yauzl';

// Unix file types in the high 16 bits of an entry's external attributes, and the two methods read.
export const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
const STORED = 0;
const DEFLATED = 8;

/** Why a file entry is not extracted (other than its name), or null when it is. */
export function refuse(entry: Entry, type: number): string | null {
  if (type === S_IFLNK) {
    return 'symbolic link not extracted';
  }
  // 0 is what DOS/Windows tools write: no Unix mode at all, so an ordinary file.
  if (type !== 0 && type !== S_IFREG) {
    return `not a regular file (mode 0o${type.toString(8)})`;
  }
  if (entry.isEncrypted()) {
    return 'encrypted entry';
  }
  if (entry.compressionMethod !== STORED && entry.compressionMethod !== DEFLATED) {
    return `unsupported compression method ${String(entry.compressionMethod)}`;
  }
  return null;
}

/**
 * The name's path components, or why it cannot be used. Backslashes are already '/' (yauzl's
 * strictFileNames: false). Like yauzl's own check we refuse any `..` component, even a harmless one.
 */
export function safeParts(name: string): string[] | string {
  if (name.startsWith('/') || /^[a-zA-Z]:/.test(name)) {
    return 'path escapes the archive';
  }
  if (name.includes('\0')) {
    return 'invalid file name';
  }
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) {
    return 'path escapes the archive';
  }
  if (parts.length === 0) {
    return 'empty file name';
  }
  return parts;
}
