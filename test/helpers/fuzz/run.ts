//! Runs protocol fuzz cases against a gateway on loopback and tallies the outcomes.
import { PDV_OVERHEAD } from '../../../src/dicom/pdata.ts';
import { associateRq, nextResponse, rawConnect, sendStore, type RawPeer } from '../pdu.ts';
import { STANDARD_CONTEXTS, type ConnectionCase, type Outcome } from './connection-cases.ts';
import type { StoreCase } from './dataset-cases.ts';

/** Outcome counts per case class, and every case that ended in a way its class does not allow. */
export interface Tally {
  readonly counts: Map<string, Map<string, number>>;
  readonly failures: string[];
  /** SOP Instance UIDs of instances answered Success (controls and any-cases). */
  readonly stored: Set<string>;
  /** SOP Instance UIDs of malformed instances ("refuse" cases). */
  readonly malformed: Set<string>;
}

export function createTally(): Tally {
  return { counts: new Map(), failures: [], stored: new Set(), malformed: new Set() };
}

function count(t: Tally, cls: string, outcome: string): void {
  let m = t.counts.get(cls);
  if (!m) {
    m = new Map();
    t.counts.set(cls, m);
  }
  m.set(outcome, (m.get(outcome) ?? 0) + 1);
}

/** Runs `tasks` with at most `concurrency` at a time. */
async function pool<T>(
  items: readonly T[],
  concurrency: number,
  run: (item: T, i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) {
        const i = next++;
        await run(items[i] as T, i);
      }
    }),
  );
}

/** The A-ASSOCIATE-AC's presentation context ids, in order. */
function acIds(body: Buffer): number[] {
  const ids: number[] = [];
  for (let pos = 68; pos + 4 <= body.length;) {
    const len = body.readUInt16BE(pos + 2);
    if (body.readUInt8(pos) === 0x21) {
      ids.push(body.readUInt8(pos + 4));
    }
    pos += 4 + len;
  }
  return ids;
}

async function runConnectionCase(port: number, c: ConnectionCase, t: Tally): Promise<void> {
  const peer = await rawConnect(port);
  try {
    if (c.associateFirst) {
      peer.socket.write(associateRq({ contexts: STANDARD_CONTEXTS, maxPdu: 16384 }));
      const ac = await peer.nextPdu(5000);
      if (ac === 'closed' || ac === 'timeout' || ac.type !== 0x02) {
        t.failures.push(
          `${c.cls}: the setup association was not accepted (${typeof ac === 'string' ? ac : String(ac.type)})`,
        );
        return;
      }
    }
    peer.socket.write(c.payload);
    if (c.endAfter) {
      peer.socket.end();
    }
    const first = await peer.nextPdu(5000);
    const outcome: Outcome =
      first === 'closed' || first === 'timeout'
        ? first
        : (({ 2: 'accept', 3: 'reject', 4: 'response', 6: 'release', 7: 'abort' } as Record<number, Outcome>)[
            first.type
          ] ?? 'other');
    count(t, c.cls, outcome);
    if (!c.allowed.includes(outcome)) {
      t.failures.push(
        `${c.cls}: ${outcome}, allowed ${c.allowed.join('/')} (payload ${c.payload.subarray(0, 64).toString('hex')}…)`,
      );
    }
    if (outcome === 'accept' && typeof first === 'object' && c.proposedIds) {
      const ids = acIds(first.body);
      const proposed = new Set(c.proposedIds);
      if (new Set(ids).size !== ids.length || ids.some((id) => id % 2 === 0 || !proposed.has(id))) {
        t.failures.push(`${c.cls}: A-ASSOCIATE-AC ids ${ids.join(',')} are not odd, distinct and proposed`);
      }
    }
  } finally {
    peer.socket.destroy();
  }
}

export async function runConnectionCases(
  port: number,
  cases: readonly ConnectionCase[],
  concurrency: number,
  t: Tally,
): Promise<void> {
  await pool(cases, concurrency, async (c) => {
    try {
      await runConnectionCase(port, c, t);
    } catch (err) {
      t.failures.push(`${c.cls}: ${String(err)}`);
    }
  });
}

const MAX_PDU = 16384;

/** One association proposing an exact context per (SOP class, syntax) the cases use. */
async function storeAssociation(
  port: number,
  keys: readonly string[],
): Promise<{ peer: RawPeer; pc: Map<string, number> }> {
  const peer = await rawConnect(port);
  const contexts = keys.map((k, i) => {
    const [abstractSyntax = '', ts = ''] = k.split('|');
    return { id: i * 2 + 1, abstractSyntax, transferSyntaxes: [ts] };
  });
  peer.socket.write(associateRq({ contexts, maxPdu: MAX_PDU }));
  const ac = await peer.nextPdu(5000);
  if (ac === 'closed' || ac === 'timeout' || ac.type !== 0x02) {
    throw new Error('store association not accepted');
  }
  return { peer, pc: new Map(contexts.map((c) => [`${c.abstractSyntax}|${c.transferSyntaxes[0] ?? ''}`, c.id])) };
}

/** Sends the store cases over `concurrency` associations, one instance at a time on each. */
export async function runStoreCases(
  port: number,
  cases: readonly StoreCase[],
  concurrency: number,
  t: Tally,
): Promise<void> {
  const keys = [...new Set(cases.map((c) => `${c.sopClassUid}|${c.transferSyntaxUid}`))];
  if (keys.length > 128) {
    throw new Error('too many (SOP class, syntax) pairs for one association');
  }
  const lanes = Array.from({ length: concurrency }, (_, lane) => cases.filter((_c, i) => i % concurrency === lane));
  await Promise.all(
    lanes.map(async (lane) => {
      let a = await storeAssociation(port, keys);
      let id = 0;
      for (const c of lane) {
        if (c.expect === 'refuse') {
          t.malformed.add(c.sopInstanceUid);
        }
        id = (id % 65535) + 1;
        sendStore(a.peer, {
          pcId: a.pc.get(`${c.sopClassUid}|${c.transferSyntaxUid}`) ?? 0,
          messageId: id,
          sopClassUid: c.sopClassUid,
          sopInstanceUid: c.sopInstanceUid,
          dataset: c.dataset,
          fragment: MAX_PDU - PDV_OVERHEAD,
        });
        const r = await nextResponse(a.peer, 15_000);
        if (typeof r === 'string') {
          count(t, c.cls, r);
          t.failures.push(`${c.cls}: no response (${r})`);
          a.peer.socket.destroy();
          a = await storeAssociation(port, keys);
          continue;
        }
        const outcome = r.status === 0 ? 'success' : `0x${r.status.toString(16).padStart(4, '0')}`;
        count(t, c.cls, outcome);
        if (r.status === 0) {
          t.stored.add(c.sopInstanceUid);
        }
        if (c.expect === 'refuse' && r.status === 0) {
          t.failures.push(
            `${c.cls}: a malformed instance got Success (${c.sopInstanceUid}, ${String(c.dataset.length)} bytes)`,
          );
        }
        if (c.expect === 'success' && r.status !== 0) {
          t.failures.push(`${c.cls}: a whole instance was refused with ${outcome}: ${r.errorComment}`);
        }
      }
      a.peer.socket.write(Buffer.from([0x05, 0, 0, 0, 0, 4, 0, 0, 0, 0]));
      await a.peer.nextPdu(5000);
      a.peer.socket.destroy();
    }),
  );
}
