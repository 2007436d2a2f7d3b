//! Which names in a drop are operating-system clutter, and which mean "a copy is still in progress".

// Files and folders that desktop OSes leave on shares. They are never DICOM and never worth a
// rejected.json entry: skipped quietly, and they leave with the drop when it is released.
const OS_FILES = new Set(['.ds_store', 'thumbs.db', 'ehthumbs.db', 'desktop.ini', '.directory', 'icon\r']);
const OS_FOLDERS = new Set(['.spotlight-v100', '.trashes', '.fseventsd', '.temporaryitems', '$recycle.bin', 'system volume information', '__macosx']);

/** True for OS clutter (`.DS_Store`, `Thumbs.db`, `desktop.ini`, AppleDouble `._*` files, …). */
export function isOsClutter(name: string, isDirectory: boolean): boolean {
  const n = name.toLowerCase();
  if (isDirectory) {return OS_FOLDERS.has(n);}
  return OS_FILES.has(n) || n.startsWith('._');
}

/** Compiles simple name patterns (`*` = any run of characters) into one matcher. */
export function nameMatcher(patterns: readonly string[]): (name: string) => boolean {
  if (!patterns.length) {return () => false;}
  const alternatives = patterns.map((p) => p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*'));
  const re = new RegExp(`^(?:${alternatives.join('|')})$`, 'i');
  return (name) => re.test(name);
}
