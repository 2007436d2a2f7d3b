// Telling a network file system (no inotify events for other clients' writes) from a local one.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isNetworkFileSystem, networkFileSystemOf } from '../../../../src/sources/folder/fs-type.ts';

// statfs answers a chosen f_type when one is set; otherwise the real call runs.
const hooks = vi.hoisted(() => ({ type: null as number | null, calls: [] as string[] }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...real,
    statfs: async (path: string) => {
      hooks.calls.push(path);
      const st = await real.statfs(path);
      if (hooks.type !== null) {
        st.type = hooks.type;
      }
      return st;
    },
  };
});

describe('networkFileSystemOf', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'xg-fstype-'));
    hooks.type = null;
    hooks.calls = [];
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('is null for a local tmp dir', async () => {
    expect(await networkFileSystemOf(dir)).toBeNull();
    expect(await isNetworkFileSystem(dir)).toBe(false);
    expect(hooks.calls).toEqual([dir, dir]);
  });

  const hex = (t: number): string => `0x${t.toString(16)}`;
  it.each(
    (
      [
        [0x6969, 'nfs'],
        [0x517b, 'smb'],
        [0xff534d42, 'cifs'],
        [0xfe534d42, 'smb2'],
        [0x65735546, 'fuse'],
        [0x01021997, '9p'],
        [0x00c36400, 'ceph'],
        [0x5346414f, 'afs'],
        [0x564c, 'ncp'],
      ] as const
    ).map(([t, n]) => [hex(t), t, n] as const),
  )('f_type %s is %s', async (_hex, type, name) => {
    hooks.type = type;
    expect(await networkFileSystemOf(dir)).toBe(name);
    expect(await isNetworkFileSystem(dir)).toBe(true);
  });

  it('reads a magic above 2^31 reported as a negative (signed) number', async () => {
    // Some platforms hand f_type back as a signed 32-bit value.
    hooks.type = 0xff534d42 | 0;
    expect(hooks.type).toBeLessThan(0);
    expect(await networkFileSystemOf(dir)).toBe('cifs');
    hooks.type = 0xfe534d42 | 0;
    expect(await networkFileSystemOf(dir)).toBe('smb2');
  });

  it.each(
    (
      [
        [0xef53, 'ext4'],
        [0x01021994, 'tmpfs'],
        [0x9123683e, 'btrfs'],
        [0x58465342, 'xfs'],
        [0x794c7630, 'overlayfs'],
      ] as const
    ).map(([t, n]) => [hex(t), n, t] as const),
  )('local f_type %s (%s) is null', async (_hex, _name, type) => {
    hooks.type = type;
    expect(await networkFileSystemOf(dir)).toBeNull();
  });

  it('a missing folder throws', async () => {
    await expect(networkFileSystemOf(join(dir, 'missing'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
