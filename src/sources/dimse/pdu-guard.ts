//! A PDU framer in front of dcmjs-dimse that refuses unknown PDU types and oversized lengths.
// The library trusts the 32-bit PDU length and grows a buffer with Buffer.concat on every TCP
// chunk: a header claiming 4 GB cost 6 min of CPU and 1 GB RSS (reference/libs.md §1.5). We
// check each header as it streams past and destroy the connection on the first violation.

/** Largest A-ASSOCIATE-RQ we read: 128 presentation contexts with many syntaxes fit easily. */
export const MAX_ASSOCIATE_PDU_BYTES = 1024 * 1024;
const MAX_CONTROL_PDU_BYTES = 64;

export interface GuardState {
  /** True once we have sent the A-ASSOCIATE-AC. */
  readonly associated: boolean;
  /** The max PDU length we advertised (P-DATA-TF variable field). */
  readonly maxPduBytes: number;
}

export interface PduGuard {
  /** Inspects the next chunk; returns a violation description, or null when it is acceptable. */
  inspect(chunk: Buffer): string | null;
}

export function createPduGuard(state: () => GuardState): PduGuard {
  const header = Buffer.alloc(6);
  let headerFill = 0;
  let remaining = 0;

  function check(type: number, length: number): string | null {
    const s = state();
    if (!s.associated) {
      if (type === 0x01) {return length <= MAX_ASSOCIATE_PDU_BYTES ? null : `A-ASSOCIATE-RQ of ${String(length)} bytes exceeds ${String(MAX_ASSOCIATE_PDU_BYTES)}`;}
      if (type === 0x05 || type === 0x07) {return length <= MAX_CONTROL_PDU_BYTES ? null : `control PDU of ${String(length)} bytes`;}
      return `PDU type 0x${type.toString(16).padStart(2, '0')} before association`;
    }
    switch (type) {
      case 0x04:
        return length <= s.maxPduBytes ? null : `P-DATA-TF of ${String(length)} bytes exceeds the negotiated maximum ${String(s.maxPduBytes)}`;
      case 0x05:
      case 0x06:
      case 0x07:
        return length <= MAX_CONTROL_PDU_BYTES ? null : `control PDU of ${String(length)} bytes`;
      default:
        return `unexpected PDU type 0x${type.toString(16).padStart(2, '0')} on an established association`;
    }
  }

  return {
    inspect(chunk) {
      let off = 0;
      while (off < chunk.length) {
        if (remaining > 0) {
          const take = Math.min(remaining, chunk.length - off);
          remaining -= take;
          off += take;
          continue;
        }
        const take = Math.min(6 - headerFill, chunk.length - off);
        chunk.copy(header, headerFill, off, off + take);
        headerFill += take;
        off += take;
        if (headerFill < 6) {break;}
        headerFill = 0;
        const violation = check(header.readUInt8(0), header.readUInt32BE(2));
        if (violation) {return violation;}
        remaining = header.readUInt32BE(2);
      }
      return null;
    },
  };
}
