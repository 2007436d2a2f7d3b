//! The I/O thread's side of io-thread.ts: whole-file reads and writes as plain blocking calls.
// Each request is one message and gets one reply. Reads land in the caller's buffer (a view of a
// SharedArrayBuffer, so nothing is copied between threads); writes take the caller's views. The
// thread blocks in the kernel on purpose: that is its job, and the main thread's loop keeps
// turning. Plain JavaScript with Node built-ins only: a thread that had to strip TypeScript types
// would load its own type stripper, ~17 MB more per thread (measured), and this runs the same from
// src/ and dist/ (scripts/copy-assets.ts copies it).
import { closeSync, openSync, readSync, unlinkSync, writevSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';

/**
 * @typedef {{ op: 'read', id: number, path: string, into: Uint8Array, expected: number }} ReadRequest
 *   `expected`: the file's recorded size, or -1; a read that brings exactly this many bytes ends the file.
 * @typedef {{ op: 'write', id: number, path: string, mode: number, head: Uint8Array[], rest: Uint8Array[] }} WriteRequest
 */

/** @param {ReadRequest} r @returns {number} the bytes read */
function readWhole(r) {
  const fd = openSync(r.path, 'r');
  try {
    let got = 0;
    while (got < r.into.length) {
      const n = readSync(fd, r.into, got, r.into.length - got, got);
      if (n === 0) {
        break;
      }
      got += n;
      if (got === r.expected) {
        break;
      }
    }
    return got;
  } finally {
    closeSync(fd);
  }
}

/**
 * All of `parts` at the file position; a short write (rare on regular files) goes on from where it stopped.
 * @param {number} fd @param {Uint8Array[]} parts @returns {number}
 */
function writeParts(fd, parts) {
  let total = 0;
  let rest = parts.filter((p) => p.length > 0);
  while (rest.length) {
    // IOV_MAX is 1024 on Linux; the callers pass a handful of parts.
    let n = writevSync(fd, rest.slice(0, 512));
    if (n === 0) {
      throw new Error('write made no progress');
    }
    total += n;
    /** @type {Uint8Array[]} */
    const left = [];
    for (const p of rest) {
      if (n >= p.length) {
        n -= p.length;
        continue;
      }
      left.push(n > 0 ? p.subarray(n) : p);
      n = 0;
    }
    rest = left;
  }
  return total;
}

/** @param {WriteRequest} r @returns {number} the bytes written */
function writeWhole(r) {
  const fd = openSync(r.path, 'w', r.mode);
  try {
    // The header and the rest in separate calls (see writeDicomFile: page-cache folio sizes).
    const n = writeParts(fd, r.head);
    return n + writeParts(fd, r.rest);
  } catch (err) {
    try {
      unlinkSync(r.path);
    } catch {
      /* the error that matters is the write's */
    }
    throw err;
  } finally {
    closeSync(fd);
  }
}

/** @param {unknown} err */
function describe(err) {
  const e = /** @type {NodeJS.ErrnoException} */ (err);
  return { message: e.message, code: e.code, errno: e.errno, syscall: e.syscall, path: e.path };
}

const port = parentPort;
if (!port) {
  throw new Error('io-thread-worker runs only as a worker thread.');
}
port.on('message', (/** @type {ReadRequest | WriteRequest} */ r) => {
  try {
    port.postMessage({ id: r.id, value: r.op === 'read' ? readWhole(r) : writeWhole(r) });
  } catch (err) {
    port.postMessage({ id: r.id, error: describe(err) });
  }
});
