//! Raw DICOM upper-layer PDUs for protocol tests (hostile and edge-case peers).
import { connect, type Socket } from 'node:net';

const pad = (s: string, n: number): Buffer => Buffer.from(s.padEnd(n, ' ').slice(0, n), 'latin1');

/** An item or sub-item: type, reserved byte, 16-bit length, body. */
export function item(type: number, body: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt8(type, 0);
  h.writeUInt16BE(body.length, 2);
  return Buffer.concat([h, body]);
}

/** A PDU: type, reserved byte, 32-bit length, body. */
export function pdu(type: number, body: Buffer): Buffer {
  const h = Buffer.alloc(6);
  h.writeUInt8(type, 0);
  h.writeUInt32BE(body.length, 2);
  return Buffer.concat([h, body]);
}

export interface AssociateOptions {
  calledAe?: string;
  callingAe?: string;
  contexts?: { id: number; abstractSyntax: string; transferSyntaxes: string[] }[];
  maxPdu?: number;
  /** Propose an asynchronous operations window (invoked, performed). */
  asyncOps?: [number, number];
}

export function associateRq(o: AssociateOptions = {}): Buffer {
  const contexts = o.contexts ?? [
    { id: 1, abstractSyntax: '1.2.840.10008.1.1', transferSyntaxes: ['1.2.840.10008.1.2'] },
  ];
  const fixed = Buffer.concat([
    Buffer.from([0, 1, 0, 0]),
    pad(o.calledAe ?? 'XNAT', 16),
    pad(o.callingAe ?? 'RAWSCU', 16),
    Buffer.alloc(32),
  ]);
  const items = [item(0x10, Buffer.from('1.2.840.10008.3.1.1.1'))];
  for (const c of contexts) {
    const subs = [
      item(0x30, Buffer.from(c.abstractSyntax)),
      ...c.transferSyntaxes.map((t) => item(0x40, Buffer.from(t))),
    ];
    items.push(item(0x20, Buffer.concat([Buffer.from([c.id, 0, 0, 0]), ...subs])));
  }
  const max = Buffer.alloc(4);
  max.writeUInt32BE(o.maxPdu ?? 16384, 0);
  const user = [item(0x51, max), item(0x52, Buffer.from('1.2.3.4'))];
  if (o.asyncOps) {
    const w = Buffer.alloc(4);
    w.writeUInt16BE(o.asyncOps[0], 0);
    w.writeUInt16BE(o.asyncOps[1], 2);
    user.push(item(0x53, w));
  }
  items.push(item(0x50, Buffer.concat(user)));
  return pdu(0x01, Buffer.concat([fixed, ...items]));
}

function el(group: number, elem: number, value: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16LE(group, 0);
  h.writeUInt16LE(elem, 2);
  h.writeUInt32LE(value.length, 4);
  return Buffer.concat([h, value]);
}
const us = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n, 0);
  return b;
};

/** A P-DATA-TF carrying a complete C-ECHO-RQ command on presentation context `pcId`. */
export function echoRq(messageId: number, pcId = 1): Buffer {
  const uid = Buffer.from('1.2.840.10008.1.1\0');
  const body = Buffer.concat([
    el(0, 0x0002, uid),
    el(0, 0x0100, us(0x0030)),
    el(0, 0x0110, us(messageId)),
    el(0, 0x0800, us(0x0101)),
  ]);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(body.length, 0);
  const command = Buffer.concat([el(0, 0x0000, len), body]);
  const pdvHead = Buffer.alloc(6);
  pdvHead.writeUInt32BE(command.length + 2, 0);
  pdvHead.writeUInt8(pcId, 4);
  pdvHead.writeUInt8(0x03, 5); // command, last fragment
  return pdu(0x04, Buffer.concat([pdvHead, command]));
}

export const releaseRq = (): Buffer => pdu(0x05, Buffer.alloc(4));

/** What `nextPdu` found: a whole PDU, or why there is none. */
export type NextPdu = { readonly type: number; readonly body: Buffer } | 'closed' | 'timeout';

/** A connected raw socket that records everything it receives. */
export interface RawPeer {
  readonly socket: Socket;
  received(): Buffer;
  /** Resolves with the first PDU type received (or null if the connection closed first). */
  firstPduType(timeoutMs?: number): Promise<number | null>;
  /** The next whole PDU not yet taken by nextPdu (from the start of the connection). */
  nextPdu(timeoutMs?: number): Promise<NextPdu>;
  closed: Promise<void>;
}

/** Connects to `host:port`, from `localAddress` when given (127.0.0.2 is another peer on Linux loopback). */
export async function rawConnect(port: number, host = '127.0.0.1', localAddress?: string): Promise<RawPeer> {
  const socket = connect({ port, host, ...(localAddress ? { localAddress } : {}) });
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let buf = Buffer.alloc(0);
  let taken = 0;
  let ended = false;
  socket.on('data', (d: Buffer) => (buf = Buffer.concat([buf, d])));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      ended = true;
      resolve();
    }),
  );
  const wait = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  return {
    socket,
    received: () => buf,
    closed,
    async firstPduType(timeoutMs = 5000) {
      const until = Date.now() + timeoutMs;
      while (Date.now() < until) {
        if (buf.length >= 6) {
          return buf.readUInt8(0);
        }
        if (socket.destroyed || socket.readableEnded) {
          return buf.length ? buf.readUInt8(0) : null;
        }
        await wait(10);
      }
      return null;
    },
    async nextPdu(timeoutMs = 5000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        if (buf.length - taken >= 6) {
          const length = buf.readUInt32BE(taken + 2);
          if (buf.length - taken >= 6 + length) {
            const pdu = { type: buf.readUInt8(taken), body: buf.subarray(taken + 6, taken + 6 + length) };
            taken += 6 + length;
            return pdu;
          }
        }
        if (ended || socket.readableEnded) {
          return 'closed';
        }
        if (Date.now() >= until) {
          return 'timeout';
        }
        await wait(5);
      }
    },
  };
}

/** Fields of an A-ASSOCIATE-RJ PDU. */
export function parseReject(b: Buffer): { result: number; source: number; reason: number } {
  return { result: b.readUInt8(7), source: b.readUInt8(8), reason: b.readUInt8(9) };
}

/** P-DATA-TF with one PDV: `flags` bit 0 = command, bit 1 = last fragment. */
export function pdata(pcId: number, flags: number, data: Buffer): Buffer {
  const head = Buffer.alloc(6);
  head.writeUInt32BE(data.length + 2, 0);
  head.writeUInt8(pcId, 4);
  head.writeUInt8(flags, 5);
  return pdu(0x04, Buffer.concat([head, data]));
}

const ui = (s: string): Buffer => Buffer.from(s.length % 2 ? `${s}\0` : s, 'latin1');

/** A C-STORE-RQ command set (implicit VR LE) announcing a dataset. */
export function storeRqCommand(messageId: number, sopClassUid: string, sopInstanceUid: string): Buffer {
  const body = Buffer.concat([
    el(0, 0x0002, ui(sopClassUid)),
    el(0, 0x0100, us(0x0001)),
    el(0, 0x0110, us(messageId)),
    el(0, 0x0700, us(0)),
    el(0, 0x0800, us(0x0000)),
    el(0, 0x1000, ui(sopInstanceUid)),
  ]);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(body.length, 0);
  return Buffer.concat([el(0, 0x0000, len), body]);
}

/** User-information sub-items of an A-ASSOCIATE-AC, by item type. */
export function acceptUserItems(ac: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let pos = 6 + 68;
  const end = 6 + ac.readUInt32BE(2);
  while (pos + 4 <= end) {
    const type = ac.readUInt8(pos);
    const len = ac.readUInt16BE(pos + 2);
    if (type === 0x50) {
      let p = pos + 4;
      while (p + 4 <= pos + 4 + len) {
        const t = ac.readUInt8(p);
        const l = ac.readUInt16BE(p + 2);
        out.set(t, ac.subarray(p + 4, p + 4 + l));
        p += 4 + l;
      }
    }
    pos += 4 + len;
  }
  return out;
}

/** Sends a C-STORE-RQ and its dataset in fragments of at most `fragment` bytes (the peer's max PDU less 6). */
export function sendStore(
  peer: RawPeer,
  o: {
    pcId: number;
    messageId: number;
    sopClassUid: string;
    sopInstanceUid: string;
    dataset: Buffer;
    fragment?: number;
  },
): void {
  const fragment = o.fragment ?? 16_000;
  const parts = [pdata(o.pcId, 0x03, storeRqCommand(o.messageId, o.sopClassUid, o.sopInstanceUid))];
  if (o.dataset.length === 0) {
    parts.push(pdata(o.pcId, 0x02, Buffer.alloc(0)));
  }
  for (let off = 0; off < o.dataset.length; off += fragment) {
    const end = Math.min(off + fragment, o.dataset.length);
    parts.push(pdata(o.pcId, end === o.dataset.length ? 0x02 : 0x00, o.dataset.subarray(off, end)));
  }
  peer.socket.write(Buffer.concat(parts));
}

/** Status and error comment of a DIMSE response command set (implicit VR LE). */
export function responseFields(command: Buffer): {
  commandField: number;
  status: number;
  messageIdBeingRespondedTo: number;
  errorComment: string;
} {
  const out = { commandField: -1, status: -1, messageIdBeingRespondedTo: -1, errorComment: '' };
  for (let pos = 0; pos + 8 <= command.length;) {
    const elem = command.readUInt16LE(pos + 2);
    const len = command.readUInt32LE(pos + 4);
    const v = command.subarray(pos + 8, pos + 8 + len);
    if (elem === 0x0100) {
      out.commandField = v.readUInt16LE(0);
    }
    if (elem === 0x0120) {
      out.messageIdBeingRespondedTo = v.readUInt16LE(0);
    }
    if (elem === 0x0900) {
      out.status = v.readUInt16LE(0);
    }
    if (elem === 0x0902) {
      out.errorComment = v.toString('latin1').trim();
    }
    pos += 8 + len;
  }
  return out;
}

/** The next DIMSE response on `peer`, or what ended the wait: an A-ABORT, an A-RELEASE-RP, the close, a timeout. */
export async function nextResponse(
  peer: RawPeer,
  timeoutMs = 5000,
): Promise<ReturnType<typeof responseFields> | 'aborted' | 'closed' | 'timeout' | `pdu ${string}`> {
  const parts: Buffer[] = [];
  for (;;) {
    const p = await peer.nextPdu(timeoutMs);
    if (p === 'closed' || p === 'timeout') {
      return p;
    }
    if (p.type === 0x07) {
      return 'aborted';
    }
    if (p.type !== 0x04) {
      return `pdu ${String(p.type)}`;
    }
    for (let pos = 0; pos < p.body.length;) {
      const len = p.body.readUInt32BE(pos);
      parts.push(p.body.subarray(pos + 6, pos + 4 + len));
      if (p.body.readUInt8(pos + 5) & 0x02) {
        return responseFields(Buffer.concat(parts));
      }
      pos += 4 + len;
    }
  }
}
