//! Cutting a DICOM Upper Layer byte stream into PDUs, refusing oversized or unwanted ones from their header.
import { PduError, PduType } from './pdu.ts';

/** Largest non-P-DATA PDU we read: an A-ASSOCIATE-AC for 128 contexts is a few kilobytes. */
const MAX_CONTROL_BODY = 1024 * 1024;

/** Splits a byte stream into PDUs; `partial` is true while part of a PDU is held. */
export interface PduFramer {
  push(chunk: Buffer): void;
  readonly partial: boolean;
  /** Drops what is held and ignores later input (the connection is ending). */
  close(): void;
}

const EMPTY = Buffer.alloc(0);

/**
 * A PDU framer. `check` sees each PDU's type and declared length as soon as its 6-byte header has
 * arrived and returns an error to refuse it: nothing of a refused PDU's body is buffered
 * (reference/libs.md §1.5). Chunks of a body are kept in a list and joined once, so a PDU costs one
 * copy however the stream is cut (dcmjs-dimse joined on every chunk: quadratic). `push` throws
 * the PduError from `check`, or whatever `onPdu` throws.
 */
export function createPduFramer(
  check: (type: number, length: number) => PduError | null,
  onPdu: (type: number, body: Buffer) => void,
  /** Offered a body that arrived in several chunks before they are joined; true: it took them as they are. */
  onParts?: (type: number, parts: readonly Buffer[], length: number) => boolean,
): PduFramer {
  let parts: Buffer[] = [];
  let have = 0;
  let type = -1;
  let length = 0;
  let closed = false;
  const joined = (n: number): Buffer => (parts.length === 1 ? (parts[0] ?? EMPTY) : Buffer.concat(parts, n));
  function emit(body: Buffer): void {
    const t = type;
    type = -1;
    parts = [];
    have = 0;
    onPdu(t, body);
  }
  return {
    get partial() {
      return have > 0 || type >= 0;
    },
    close() {
      closed = true;
      parts = [];
    },
    push(chunk) {
      let c = chunk;
      while (!closed && c.length > 0) {
        if (type < 0) {
          const take = Math.min(6 - have, c.length);
          parts.push(c.subarray(0, take));
          have += take;
          c = c.subarray(take);
          if (have < 6) {
            return;
          }
          const h = joined(6);
          parts = [];
          have = 0;
          type = h.readUInt8(0);
          length = h.readUInt32BE(2);
          const refused = check(type, length);
          if (refused) {
            throw refused;
          }
          if (c.length >= length) {
            // The usual case: the whole body is in this chunk; hand out a view, no copy.
            const body = c.subarray(0, length);
            c = c.subarray(length);
            emit(body);
          }
          continue;
        }
        const take = Math.min(length - have, c.length);
        parts.push(c.subarray(0, take));
        have += take;
        c = c.subarray(take);
        if (have === length) {
          if (parts.length > 1 && onParts) {
            const [t, ps] = [type, parts];
            type = -1;
            parts = [];
            have = 0;
            if (!onParts(t, ps, length)) {
              onPdu(t, Buffer.concat(ps, length));
            }
          } else {
            emit(joined(length));
          }
        }
      }
    },
  };
}

/**
 * The requestor's framer: a P-DATA-TF longer than `maxPduLength` (what we advertised) is a
 * protocol error, not a reason to allocate; other PDUs may be up to 1 MiB.
 */
export function createPduReader(
  maxPduLength: number,
  onPdu: (type: number, body: Buffer) => void,
): (chunk: Buffer) => void {
  const framer = createPduFramer((type, length) => {
    const max = type === PduType.PData ? maxPduLength : MAX_CONTROL_BODY;
    return length > max ? new PduError(`PDU of ${String(length)} bytes exceeds our limit of ${String(max)}.`) : null;
  }, onPdu);
  return (chunk) => {
    framer.push(chunk);
  };
}
