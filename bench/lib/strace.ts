//! Reading an `strace -f -ttt -o LOG` log of the daemon over one window: system calls, and reads, writes and syncs by what their file descriptor is (socket, spool file, WAL, database).
import { readFileSync } from 'node:fs';

export interface SyscallStats {
  /** Calls per system call name within the window (all threads), with failed calls. */
  readonly calls: ReadonlyMap<string, { calls: number; errors: number }>;
  /** Per target (socket, spool, wal, db, eventfd/pipe, other) and operation: calls and bytes. */
  readonly io: ReadonlyMap<string, { calls: number; bytes: number }>;
  /** Sizes of writes to spool files: bytes → count. */
  readonly spoolWriteSizes: ReadonlyMap<number, number>;
  /** Sizes of socket reads: bytes returned → count, in 16 KiB classes. */
  readonly socketReadSizes: ReadonlyMap<number, number>;
}

const WRITES = new Set(['write', 'writev', 'pwrite64', 'pwritev', 'pwritev2']);
const READS = new Set(['read', 'readv', 'pread64', 'recvfrom', 'recvmsg']);
const SYNCS = new Set(['fsync', 'fdatasync', 'sync_file_range']);

function targetOf(path: string): string {
  if (path.endsWith('-wal')) {
    return 'wal';
  }
  if (path.endsWith('.db') || path.endsWith('-journal') || path.endsWith('-shm')) {
    return 'db';
  }
  if (path.includes('/spool/')) {
    return 'spool';
  }
  return 'other';
}

/**
 * Parses the log of `strace -f -ttt -qq -o LOG -- node …`. File descriptors are followed over the
 * whole log (so one opened before the window is still known); calls are counted only when they
 * start within [fromMs, toMs] (epoch ms).
 */
export function parseStrace(file: string, fromMs: number, toMs: number): SyscallStats {
  const fds = new Map<number, string>();
  const io = new Map<string, { calls: number; bytes: number }>();
  const spoolWriteSizes = new Map<number, number>();
  const socketReadSizes = new Map<number, number>();
  const calls = new Map<string, { calls: number; errors: number }>();
  const pending = new Map<string, { text: string; at: number }>();
  const add = (k: string, bytes: number): void => {
    const e = io.get(k) ?? { calls: 0, bytes: 0 };
    e.calls++;
    e.bytes += bytes;
    io.set(k, e);
  };
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const lead = /^(\d+)\s+(\d+\.\d+)\s+(.*)$/.exec(raw);
    if (!lead) {
      continue;
    }
    const [, pid = '', time = '', rest0 = ''] = lead;
    let at = Number(time) * 1000;
    let rest = rest0;
    const unfinished = /^(\w+\(.*) <unfinished \.\.\.>$/.exec(rest);
    if (unfinished) {
      pending.set(pid, { text: unfinished[1] ?? '', at });
      continue;
    }
    const resumed = /^<\.\.\. \w+ resumed>(.*)$/.exec(rest);
    if (resumed) {
      const p = pending.get(pid);
      rest = (p?.text ?? '') + (resumed[1] ?? '');
      at = p?.at ?? at;
      pending.delete(pid);
    }
    const call = /^(\w+)\((\d+)?(.*)\)\s+=\s+(-?\d+|\?)/.exec(rest);
    if (!call) {
      continue;
    }
    const [, name = '', fdText, args = '', retText = ''] = call;
    const ret = Number(retText);
    const inWindow = at >= fromMs && at <= toMs;
    if (inWindow) {
      const c = calls.get(name) ?? { calls: 0, errors: 0 };
      c.calls++;
      if (ret < 0) {
        c.errors++;
      }
      calls.set(name, c);
    }
    if ((name === 'openat' || name === 'open') && ret >= 0) {
      fds.set(ret, targetOf(/"([^"]*)"/.exec(args)?.[1] ?? ''));
      continue;
    }
    if ((name === 'accept4' || name === 'accept') && ret >= 0) {
      fds.set(ret, 'socket');
      continue;
    }
    if ((name === 'eventfd2' || name === 'pipe2') && ret >= 0) {
      fds.set(ret, 'eventfd/pipe');
      continue;
    }
    if (name === 'close' && fdText !== undefined) {
      fds.delete(Number(fdText));
      continue;
    }
    if (fdText === undefined || !inWindow) {
      continue;
    }
    const target = fds.get(Number(fdText)) ?? 'other';
    if (WRITES.has(name)) {
      add(`${target} write`, Math.max(0, ret));
      if (target === 'spool' && ret > 0) {
        spoolWriteSizes.set(ret, (spoolWriteSizes.get(ret) ?? 0) + 1);
      }
    } else if (READS.has(name)) {
      add(`${target} read`, Math.max(0, ret));
      if (target === 'socket' && ret > 0) {
        const k = Math.ceil(ret / 16384) * 16;
        socketReadSizes.set(k, (socketReadSizes.get(k) ?? 0) + 1);
      }
    } else if (SYNCS.has(name)) {
      add(`${target} ${name}`, 0);
    }
  }
  return { calls, io, spoolWriteSizes, socketReadSizes };
}
