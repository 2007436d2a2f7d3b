//! Is the import folder on a network file system? Then file-system events cannot be trusted.
import { statfs } from 'node:fs/promises';

// statfs f_type magic numbers (linux/magic.h). Writes made by other clients of these file systems
// raise no inotify event on this host (chokidar #525, #315), so `mode: auto` polls them.
const NETWORK_FS = new Map<number, string>([
  [0x6969, 'nfs'],
  [0x517b, 'smb'],
  [0xff534d42, 'cifs'],
  [0xfe534d42, 'smb2'],
  [0x65735546, 'fuse'],
  [0x01021997, '9p'],
  [0x00c36400, 'ceph'],
  [0x5346414f, 'afs'],
  [0x564c, 'ncp'],
]);

/** The network file system's name when `dir` is on one, otherwise null. */
export async function networkFileSystemOf(dir: string): Promise<string | null> {
  const { type } = await statfs(dir);
  return NETWORK_FS.get(type >>> 0) ?? null;
}

export async function isNetworkFileSystem(dir: string): Promise<boolean> {
  return (await networkFileSystemOf(dir)) !== null;
}
