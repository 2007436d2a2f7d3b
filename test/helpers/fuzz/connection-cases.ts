//! Protocol fuzz cases that each take a connection: mutated A-ASSOCIATE-RQs, PDUs before association, and hostile command sets after it.
import { commandElement, ui, us, withGroupLength } from '../../../src/dicom/command-set.ts';
import { item, pdu } from '../pdu.ts';
import type { Rng } from './rng.ts';

/** How a connection case may end: the first thing the gateway sends, or the connection closing without a PDU. */
export type Outcome = 'accept' | 'reject' | 'abort' | 'response' | 'release' | 'closed' | 'timeout' | 'other';

export interface ConnectionCase {
  /** Class label for the report ("associate:contexts", "command:garbage", …). */
  readonly cls: string;
  /** Associate with STANDARD_RQ first (and expect an A-ASSOCIATE-AC) before sending `payload`. */
  readonly associateFirst: boolean;
  readonly payload: Buffer;
  /** The payload is an unfinished PDU or message: the client half-closes after it. */
  readonly endAfter: boolean;
  /** Context ids proposed by `payload` when it is an A-ASSOCIATE-RQ (checks the A-ASSOCIATE-AC). */
  readonly proposedIds?: readonly number[];
  readonly allowed: readonly Outcome[];
}

const CT = '1.2.840.10008.5.1.4.1.1.2';
const MR = '1.2.840.10008.5.1.4.1.1.4';
const VERIFICATION = '1.2.840.10008.1.1';
const FIND = '1.2.840.10008.5.1.4.1.2.2.1';
const ILE = '1.2.840.10008.1.2';
const ELE = '1.2.840.10008.1.2.1';
const ABSTRACT = [
  CT,
  MR,
  VERIFICATION,
  FIND,
  '1.2.840.10008.5.1.4.1.1.88.11',
  '1.2.3.4.5',
  '',
  'not a uid',
  '9'.repeat(70),
];
const TRANSFER = [
  ILE,
  ELE,
  '1.2.840.10008.1.2.2',
  '1.2.840.10008.1.2.4.50',
  '1.2.840.10008.1.2.1.99',
  '1.2.3',
  '',
  'x'.repeat(80),
];

const ae = (s: string): Buffer => Buffer.from(s.padEnd(16, ' ').slice(0, 16), 'latin1');
const txt = (s: string): Buffer => Buffer.from(s, 'latin1');

interface RqParts {
  version: number;
  calledAe: string;
  appContext: Buffer | null;
  contexts: { id: number; abstract: string[]; transfer: string[] }[];
  userInfo: Buffer | null;
  extra: Buffer[];
}

function encodeRq(p: RqParts): Buffer {
  const fixed = Buffer.alloc(68);
  fixed.writeUInt16BE(p.version, 0);
  ae(p.calledAe).copy(fixed, 4);
  ae('FUZZER').copy(fixed, 20);
  const items = [p.appContext ? item(0x10, p.appContext) : Buffer.alloc(0)];
  for (const c of p.contexts) {
    items.push(
      item(
        0x20,
        Buffer.concat([
          Buffer.from([c.id, 0, 0, 0]),
          ...c.abstract.map((a) => item(0x30, txt(a))),
          ...c.transfer.map((t) => item(0x40, txt(t))),
        ]),
      ),
    );
  }
  items.push(...p.extra);
  if (p.userInfo) {
    items.push(item(0x50, p.userInfo));
  }
  return pdu(0x01, Buffer.concat([fixed, ...items]));
}

function userInfo(rng: Rng): Buffer {
  const max = Buffer.alloc(4);
  max.writeUInt32BE(rng.pick([0, 1, 16, 31, 32, 4096, 16384, 65536, 0xffffffff]), 0);
  const subs = [item(0x51, max), item(0x52, txt('1.2.3.4'))];
  if (rng.chance(0.2)) {
    subs.push(item(0x53, Buffer.from([0, rng.int(20), 0, rng.int(20)])));
  }
  if (rng.chance(0.2)) {
    subs.push(item(0x54, Buffer.concat([Buffer.from([0, CT.length]), txt(CT), Buffer.from([1, 1])])));
  }
  if (rng.chance(0.2)) {
    subs.push(item(0x58, Buffer.concat([Buffer.from([1, 1, 0, 4]), txt('user'), Buffer.from([0, 0])])));
  }
  // Sub-items we do not use (extended negotiation, identity response, unknown ones): skipped.
  if (rng.chance(0.1)) {
    subs.push(item(rng.pick([0x56, 0x57, 0x59, 0x5a, 0x60, 0xff]), rng.bytes(rng.int(20))));
  }
  return Buffer.concat(subs);
}

function contextList(rng: Rng): RqParts['contexts'] {
  const n = rng.pick([0, 1, 2, 3, 5, 10, 64, 127, 128, 129, 130, 200, 255, 256, 257, 300, rng.int(301)]);
  const mode = rng.pick(['sequential', 'sequential', 'random', 'duplicates', 'even', 'reversed'] as const);
  return Array.from({ length: n }, (_, i) => {
    const id =
      mode === 'sequential'
        ? (i * 2 + 1) % 256
        : mode === 'random'
          ? rng.int(256)
          : mode === 'duplicates'
            ? rng.pick([1, 3, 5])
            : mode === 'even'
              ? (i * 2) % 256
              : (255 - i * 2 + 512) % 256;
    const abstract = rng.chance(0.9)
      ? [rng.pick(ABSTRACT)]
      : rng.chance(0.5)
        ? []
        : [rng.pick(ABSTRACT), rng.pick(ABSTRACT)];
    const transfer = Array.from({ length: rng.int(5) }, () => rng.pick(TRANSFER));
    return { id, abstract, transfer };
  });
}

function baseRq(rng: Rng): RqParts {
  return {
    version: 1,
    calledAe: 'XNAT',
    appContext: txt('1.2.840.10008.3.1.1.1'),
    contexts: contextList(rng),
    userInfo: userInfo(rng),
    extra: [],
  };
}

/** Mutated presentation contexts only: the request is otherwise valid, so it must be accepted or rejected, never aborted. */
function contextsCase(rng: Rng): ConnectionCase {
  const p = baseRq(rng);
  return {
    cls: 'associate:contexts',
    associateFirst: false,
    payload: encodeRq(p),
    endAfter: false,
    proposedIds: p.contexts.map((c) => c.id),
    allowed: ['accept', 'reject'],
  };
}

/** Odd fixed fields and items: version, called AE, application context, user information. */
function fieldsCase(rng: Rng): ConnectionCase {
  const p = baseRq(rng);
  const which = rng.int(6);
  if (which === 0) {
    p.version = rng.int(0x10000);
  }
  if (which === 1) {
    p.calledAe = rng.pick(['', 'PACS', 'xnat', '\\\\\\', 'XNAT'.padEnd(16, 'X')]);
  }
  if (which === 2) {
    p.appContext = rng.chance(0.5) ? null : rng.bytes(rng.int(70));
  }
  if (which === 3) {
    p.userInfo = rng.chance(0.5) ? null : rng.bytes(rng.int(40));
  }
  if (which === 4) {
    p.extra = Array.from({ length: rng.range(1, 5) }, () =>
      item(rng.pick([0x00, 0x11, 0x21, 0x30, 0x40, 0x51, 0x60, 0xff]), rng.bytes(rng.int(40))),
    );
  }
  if (which === 5) {
    p.contexts = p.contexts.map((c) => ({ ...c, abstract: [], transfer: [] }));
  }
  return {
    cls: 'associate:fields',
    associateFirst: false,
    payload: encodeRq(p),
    endAfter: false,
    proposedIds: p.contexts.map((c) => c.id),
    allowed: ['accept', 'reject', 'abort'],
  };
}

/** Absurd lengths: an item or sub-item length field overwritten, the PDU cut, or its length field wrong. */
function lengthsCase(rng: Rng): ConnectionCase {
  const p = baseRq(rng);
  const rq = Buffer.from(encodeRq(p));
  const ids = p.contexts.map((c) => c.id);
  const kind = rng.int(6);
  if (kind <= 1) {
    // Overwrite the length of a random item or sub-item header (found by its type byte and reserved zero).
    const starts: number[] = [];
    for (let i = 6 + 68; i + 4 <= rq.length; i++) {
      if ([0x10, 0x20, 0x30, 0x40, 0x50, 0x51, 0x52].includes(rq[i] ?? -1) && rq[i + 1] === 0) {
        starts.push(i);
      }
    }
    const at = starts.length ? rng.pick(starts) : 6 + 68;
    rq.writeUInt16BE(rng.pick([0, 1, 3, 4, 0xffff, rng.int(0x10000)]), Math.min(at + 2, rq.length - 2));
    return {
      cls: 'associate:lengths',
      associateFirst: false,
      payload: rq,
      endAfter: false,
      proposedIds: ids,
      allowed: ['accept', 'reject', 'abort'],
    };
  }
  if (kind === 2) {
    // Cut anywhere, the PDU length saying it ends there: a whole PDU with a broken inside.
    const cut = rng.range(6, Math.max(6, rq.length - 1));
    const b = Buffer.from(rq.subarray(0, cut));
    b.writeUInt32BE(cut - 6, 2);
    return {
      cls: 'associate:lengths',
      associateFirst: false,
      payload: b,
      endAfter: false,
      proposedIds: ids,
      allowed: ['accept', 'reject', 'abort'],
    };
  }
  if (kind === 3) {
    // The PDU length promises more than is sent: the client gives up (half-closes).
    rq.writeUInt32BE(rq.length - 6 + rng.range(1, 5000), 2);
    return { cls: 'associate:incomplete', associateFirst: false, payload: rq, endAfter: true, allowed: ['closed'] };
  }
  if (kind === 4) {
    // Shorter than its items: the rest is read as the next PDU.
    rq.writeUInt32BE(Math.max(0, rq.length - 6 - rng.range(1, 40)), 2);
    return {
      cls: 'associate:lengths',
      associateFirst: false,
      payload: rq,
      endAfter: false,
      proposedIds: ids,
      allowed: ['accept', 'reject', 'abort'],
    };
  }
  const huge = Buffer.alloc(6 + rng.int(2000));
  huge.writeUInt8(0x01, 0);
  huge.writeUInt32BE(rng.range(1024 * 1024 + 1, 0xffffffff), 2);
  return { cls: 'associate:oversize', associateFirst: false, payload: huge, endAfter: false, allowed: ['abort'] };
}

/** A PDU other than A-ASSOCIATE-RQ as the first thing on the connection. */
function beforeAssociationCase(rng: Rng): ConnectionCase {
  const type = rng.pick([0x00, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x7f, 0xff]);
  const body =
    type === 0x04
      ? Buffer.concat([Buffer.from([0, 0, 0, 10, 1, 3]), rng.bytes(8)])
      : rng.bytes(rng.pick([0, 4, 10, 64, 300]));
  return {
    cls: 'before-association',
    associateFirst: false,
    payload: pdu(type, body),
    endAfter: false,
    allowed: ['abort', 'closed'],
  };
}

/** The association every command case opens first: Verification (1), CT (3), basic text SR (5). */
export const STANDARD_CONTEXTS = [
  { id: 1, abstractSyntax: VERIFICATION, transferSyntaxes: [ILE] },
  { id: 3, abstractSyntax: CT, transferSyntaxes: [ELE] },
  { id: 5, abstractSyntax: '1.2.840.10008.5.1.4.1.1.88.11', transferSyntaxes: [ELE] },
];

function pdv(pcId: number, flags: number, data: Buffer): Buffer {
  const h = Buffer.alloc(6);
  h.writeUInt32BE(data.length + 2, 0);
  h.writeUInt8(pcId, 4);
  h.writeUInt8(flags, 5);
  return Buffer.concat([h, data]);
}
const pdata = (...pdvs: Buffer[]): Buffer => pdu(0x04, Buffer.concat(pdvs));

function echoCommand(id: number): Buffer {
  return withGroupLength([
    commandElement(0x0002, ui(VERIFICATION)),
    commandElement(0x0100, us(0x0030)),
    commandElement(0x0110, us(id)),
    commandElement(0x0800, us(0x0101)),
  ]);
}
function storeCommand(id: number, datasetType = 0): Buffer {
  return withGroupLength([
    commandElement(0x0002, ui(CT)),
    commandElement(0x0100, us(0x0001)),
    commandElement(0x0110, us(id)),
    commandElement(0x0700, us(0)),
    commandElement(0x0800, us(datasetType)),
    commandElement(0x1000, ui(`2.25.${String(1000 + id)}`)),
  ]);
}

/** A command set, then (so that a command announcing one is never left waiting) a last data fragment. */
function commandThenData(pcId: number, command: Buffer, rng: Rng): Buffer {
  return Buffer.concat([pdata(pdv(pcId, 0x03, command)), pdata(pdv(pcId, 0x02, rng.bytes(rng.int(64))))]);
}

function commandCase(rng: Rng): ConnectionCase {
  const c = (cls: string, payload: Buffer, allowed: Outcome[], endAfter = false): ConnectionCase => ({
    cls: `command:${cls}`,
    associateFirst: true,
    payload,
    endAfter,
    allowed,
  });
  const pc = rng.pick([1, 3]);
  switch (rng.int(14)) {
    case 0:
      return c('garbage', commandThenData(pc, rng.bytes(rng.int(300)), rng), ['abort', 'response']);
    case 1: {
      const full = rng.chance(0.5) ? echoCommand(1) : storeCommand(1);
      return c('truncated', commandThenData(pc, full.subarray(0, rng.range(0, full.length - 1)), rng), [
        'abort',
        'response',
      ]);
    }
    case 2: {
      const m = Buffer.from(rng.chance(0.5) ? echoCommand(2) : storeCommand(2));
      for (let k = rng.range(1, 4); k > 0; k--) {
        m[rng.int(m.length)] = rng.int(256);
      }
      return c('mutated', commandThenData(pc, m, rng), ['abort', 'response']);
    }
    case 3:
      return c('context', pdata(pdv(rng.pick([0, 2, 7, 9, 254, 255]), 0x03, echoCommand(3))), ['abort']);
    case 4:
      return c('order', pdata(pdv(pc, 0x02, rng.bytes(20))), ['abort']);
    case 5:
      return c(
        'response',
        pdata(
          pdv(
            pc,
            0x03,
            withGroupLength([
              commandElement(0x0100, us(0x8001)),
              commandElement(0x0120, us(1)),
              commandElement(0x0800, us(0x0101)),
              commandElement(0x0900, us(0)),
            ]),
          ),
        ),
        ['abort'],
      );
    case 6: {
      const field = rng.pick([0x0020, 0x0021, 0x0010, 0x0140, 0x0120, 0x0110, 0x0130, 0x0150, 0x0100, 0x4242]);
      const withData = rng.chance(0.5);
      const cmd = withGroupLength([
        commandElement(0x0002, ui(CT)),
        commandElement(0x0100, us(field)),
        commandElement(0x0110, us(6)),
        commandElement(0x0800, us(withData ? 0 : 0x0101)),
      ]);
      return c('unsupported', withData ? commandThenData(3, cmd, rng) : pdata(pdv(3, 0x03, cmd)), ['response']);
    }
    case 7:
      return c('no-dataset', pdata(pdv(3, 0x03, storeCommand(7, 0x0101))), ['response']);
    case 8: {
      // PDV item lengths that do not fit their PDU, zero-length PDVs, mixed fragments.
      const body = Buffer.concat([pdv(pc, 0x03, echoCommand(8)), rng.bytes(rng.int(12))]);
      body.writeUInt32BE(rng.pick([0, 1, 2, 0xffffffff, body.length + 10]), 0);
      return c('pdv-structure', pdu(0x04, body), ['abort', 'response']);
    }
    case 9: {
      const h = Buffer.alloc(6 + rng.int(1000));
      h.writeUInt8(0x04, 0);
      h.writeUInt32BE(rng.range(256 * 1024 + 1, 0xffffffff), 2);
      return c('pdata-oversize', h, ['abort']);
    }
    case 10:
      return c('release', pdu(0x05, Buffer.alloc(4)), ['release']);
    case 11:
      return c('second-rq', encodeRq(baseRq(rng)), ['abort']);
    case 12:
      return c(
        'partial',
        Buffer.concat([
          pdata(pdv(pc, 0x01, echoCommand(12).subarray(0, 10))),
          rng.chance(0.5) ? Buffer.from([0x04, 0, 0, 0]) : Buffer.alloc(0),
        ]),
        ['closed'],
        true,
      );
    default:
      return c('peer-abort', pdu(0x07, Buffer.from([0, 0, rng.int(3), rng.int(7)])), ['closed']);
  }
}

/** `n` connection cases, in a mix fixed by the generator. */
export function connectionCases(rng: Rng, n: number): ConnectionCase[] {
  return Array.from({ length: n }, () => {
    const r = rng.next();
    if (r < 0.22) {
      return contextsCase(rng);
    }
    if (r < 0.32) {
      return fieldsCase(rng);
    }
    if (r < 0.55) {
      return lengthsCase(rng);
    }
    if (r < 0.65) {
      return beforeAssociationCase(rng);
    }
    return commandCase(rng);
  });
}
