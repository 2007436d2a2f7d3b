//! yazl's CRC-32 computed by zlib (native) instead of the JavaScript table loop it ships with.
// yazl checksums every byte of a stored entry through buffer-crc32, a byte-at-a-time JavaScript
// loop: 1.2 ms per 525 KB CT instance on this project's VM, the largest CPU cost of an xnat-rest
// delivery after garbage collection. zlib.crc32 (Node ≥ 22.2) computes the same CRC-32 (IEEE,
// reflected, as ZIP uses) in 0.09 ms. yazl requires buffer-crc32 at load and calls
// `crc32.unsigned(chunk, previous)`; the module object is shared through require's cache, so its
// `unsigned` is replaced here for the shapes yazl uses (a Buffer and a numeric running value) and
// left to the original for anything else. Same values (test/unit/sinks/xnat-rest/native-crc32.test.ts).
import { createRequire } from 'node:module';
import { crc32 as zlibCrc32 } from 'node:zlib';

interface BufferCrc32 {
  unsigned: (buf: unknown, previous?: unknown) => number;
}

const MARK = Symbol.for('xnat-gateway.native-crc32');

/** The buffer-crc32 module instance yazl itself loads (resolved from yazl's own location). */
export function yazlCrc32Module(): BufferCrc32 {
  const fromYazl = createRequire(createRequire(import.meta.url).resolve('yazl'));
  return fromYazl('buffer-crc32') as BufferCrc32;
}

/** Makes yazl's CRC-32 native; idempotent. */
export function useNativeCrc32(): void {
  const mod = yazlCrc32Module() as BufferCrc32 & { [MARK]?: true };
  if (mod[MARK]) {
    return;
  }
  const original = mod.unsigned;
  mod.unsigned = function unsigned(buf: unknown, previous?: unknown): number {
    if (Buffer.isBuffer(buf) && (previous === undefined || typeof previous === 'number')) {
      return zlibCrc32(buf, (previous ?? 0) >>> 0);
    }
    return original.call(this, buf, previous);
  };
  mod[MARK] = true;
}
