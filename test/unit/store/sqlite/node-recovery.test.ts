// Start-up recovery limited to this node's own work (issue 22): two gateways sharing one database
// file, each with its own node id. A restart of A closes A's open associations, requeues the jobs A
// held and checks A's rows not yet durable; B's stay B's until B's lease expires.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDb, type Db } from '../../../../src/store/sqlite/db.ts';
import { createAssociationStore } from '../../../../src/store/sqlite/associations.ts';
import { createInstanceStore } from '../../../../src/store/sqlite/instances.ts';
import { type InstanceRecord } from '../../../../src/store/instances.ts';
import { createJobStore } from '../../../../src/store/sqlite/jobs.ts';
import { createSeriesStore } from '../../../../src/store/sqlite/series.ts';
import { createFakeClock, type FakeClock } from '../../../helpers/fake-clock.ts';
import { insertSeries, must } from '../../../helpers/series-rows.ts';
import { instanceRecord } from '../../../helpers/instance-record.ts';

const record = (o: Partial<InstanceRecord>): InstanceRecord => instanceRecord({ durable: false, ...o });

describe('start-up recovery of one node among several sharing a database', () => {
  let dir: string;
  let a: Db;
  let b: Db;
  let clock: FakeClock;
  const peer = { source: 'dimse' as const, callingAe: 'CT1', calledAe: 'XNAT', peerIp: '10.0.0.5' };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'xg-node-'));
    a = openDb(join(dir, 'gateway.db'));
    b = openDb(join(dir, 'gateway.db'));
    clock = createFakeClock();
  });
  afterEach(() => {
    a.close();
    b.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('requeues only the jobs this node held; another node keeps its lease until it expires', async () => {
    const jobsA = createJobStore(a, clock, { leaseMs: 60_000, nodeId: 'A' });
    const jobsB = createJobStore(b, clock, { leaseMs: 60_000, nodeId: 'B' });
    const s1 = insertSeries(a, { lastInstanceAt: clock.now(), state: 'complete' });
    const s2 = insertSeries(a, { lastInstanceAt: clock.now(), state: 'complete' });
    await jobsA.enqueueDeliveries(s1, ['xnat'], 3);
    await jobsA.enqueueDeliveries(s2, ['xnat'], 3);
    const heldByA = must(await jobsA.claim(clock.now()));
    const heldByB = must(await jobsB.claim(clock.now()));
    const state = (id: number): unknown => a.prepare('SELECT state, lease_node FROM jobs WHERE id = ?').get(id);
    expect(state(heldByA.id)).toEqual({ state: 'running', lease_node: 'A' });
    expect(state(heldByB.id)).toEqual({ state: 'running', lease_node: 'B' });

    // A restarts: its own running job was orphaned by its previous process; B's is B's.
    expect(await jobsA.releaseOrphans(clock.now())).toBe(1);
    expect(state(heldByA.id)).toMatchObject({ state: 'queued' });
    expect(state(heldByB.id)).toEqual({ state: 'running', lease_node: 'B' });
    // B still holds its lease: its completion goes through.
    await jobsB.complete(heldByB, 'receipt');
    expect(state(heldByB.id)).toMatchObject({ state: 'done' });

    // A lease B never renews is taken back once it expired, by any node.
    const again = must(await jobsB.claim(clock.now()));
    clock.advance(60_001);
    expect(await jobsA.releaseOrphans(clock.now())).toBe(1);
    expect(state(again.id)).toMatchObject({ state: 'queued' });
  });

  it('closes only the associations this node opened (and those recorded before node ids)', async () => {
    const ofA = await createAssociationStore(a, 'A').open({ ...peer, at: 1000 });
    const ofB = await createAssociationStore(b, 'B').open({ ...peer, at: 1000 });
    const older = await createAssociationStore(a).open({ ...peer, at: 900 });
    expect(await createSeriesStore(a).closeInterrupted(2000, 'A')).toBe(2);
    const outcome = (id: number): unknown => a.prepare('SELECT node, outcome FROM associations WHERE id = ?').get(id);
    expect(outcome(ofA.id)).toEqual({ node: 'A', outcome: 'interrupted' });
    expect(outcome(older.id)).toEqual({ node: null, outcome: 'interrupted' });
    expect(outcome(ofB.id)).toEqual({ node: 'B', outcome: null });
  });

  it("checks only this node's instances not yet durable: another node's files are on its own spool", async () => {
    const assocA = await createAssociationStore(a, 'A').open({ ...peer, at: 1000 });
    const assocB = await createAssociationStore(b, 'B').open({ ...peer, at: 1000 });
    const ia = await createInstanceStore(a).record(
      record({ sopInstanceUid: '5.1', path: 'a/1', associationId: assocA.id }),
    );
    await createInstanceStore(b).record(record({ sopInstanceUid: '5.2', path: 'b/1', associationId: assocB.id }));
    expect((await createInstanceStore(a).notDurable('A')).map((r) => r.id)).toEqual([ia.instanceId]);
    expect((await createInstanceStore(b).notDurable('B')).map((r) => r.path)).toEqual(['b/1']);
  });
});
