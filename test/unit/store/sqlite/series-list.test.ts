import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Db } from '../../../../src/store/sqlite/db.ts';
import { createSeriesList } from '../../../../src/store/sqlite/series-list.ts';
import type { SeriesList } from '../../../../src/store/series-list.ts';
import { addAssociation, addSeries, linkSeries, tmpDb } from '../../../helpers/queue-rows.ts';

let db: Db;
let close: () => void;
let list: SeriesList;
beforeEach(() => {
  ({ db, close } = tmpDb());
  list = createSeriesList(db);
});
afterEach(() => {
  close();
});

/** A routing decision row for series `id`. */
function route(
  id: number,
  o: {
    target: 'hospital' | 'quarantine';
    project: string;
    state?: 'waiting' | 'routed';
    released?: boolean;
    rule?: string;
  },
): void {
  db.prepare(
    `INSERT INTO series_routes (series_id, state, target, project, reasons, rules_hash, decided_at, released_at, released_by)
    VALUES (?, ?, ?, ?, ?, 'h', 1, ?, ?)`,
  ).run(
    id,
    o.state ?? 'routed',
    o.target,
    o.project,
    JSON.stringify([
      { rule: o.rule ?? 'default', source: 'default', message: `Rule ${o.rule ?? 'default'} fired.`, instances: 1 },
    ]),
    o.released ? 5 : null,
    o.released ? 'alice' : null,
  );
}

/** Five batches: two CT from CT1 (one quarantined), an MR from the import folder, a released US, and one still receiving. */
function seed(): Record<'ct' | 'ctQ' | 'mr' | 'us' | 'open', number> {
  const ct1 = addAssociation(db, { calling_ae: 'CT1', peer_ip: '10.0.0.1' });
  const folder = addAssociation(db, { source: 'folder', calling_ae: 'IMPORT', peer_ip: '127.0.0.1' });
  const live = addAssociation(db, { calling_ae: 'MR7', peer_ip: '10.0.0.7', closed_at: null, outcome: null });
  const ids = {
    ct: addSeries(db, {
      modality: 'CT',
      state: 'delivered',
      first_instance_at: 1_000,
      last_instance_at: 2_000,
      instance_count: 3,
    }),
    ctQ: addSeries(db, {
      modality: 'CT',
      state: 'delivered',
      first_instance_at: 3_000,
      last_instance_at: 4_000,
      instance_count: 9,
    }),
    mr: addSeries(db, {
      modality: 'MR',
      state: 'failed',
      first_instance_at: 5_000,
      last_instance_at: 6_000,
      instance_count: 1,
    }),
    us: addSeries(db, {
      modality: 'US',
      state: 'complete',
      first_instance_at: 7_000,
      last_instance_at: 8_000,
      instance_count: 2,
    }),
    open: addSeries(db, {
      modality: 'MR',
      state: 'receiving',
      first_instance_at: 9_000,
      last_instance_at: 9_500,
      instance_count: 5,
    }),
  };
  linkSeries(db, ids.ct, ct1);
  linkSeries(db, ids.ctQ, ct1);
  linkSeries(db, ids.mr, folder);
  linkSeries(db, ids.us, ct1);
  linkSeries(db, ids.open, live);
  route(ids.ct, { target: 'hospital', project: 'KCL' });
  route(ids.ctQ, { target: 'quarantine', project: 'QUARANTINE', rule: 'protocol:model' });
  route(ids.mr, { target: 'hospital', project: 'KCL' });
  route(ids.us, { target: 'hospital', project: 'KCL', released: true, rule: 'release' });
  return ids;
}

const ids = async (q: Parameters<SeriesList['page']>[0]): Promise<number[]> =>
  (await list.page(q)).items.map((i) => i.id);

describe('series list', () => {
  it('shows each batch with its project, reasons, senders, sources and open associations', async () => {
    const s = seed();
    const [open, us, , ctQ] = (await list.page({ limit: 10 })).items;
    expect(open).toMatchObject({
      id: s.open,
      project: null,
      target: null,
      routeState: null,
      reasons: [],
      senders: ['MR7'],
      sources: ['dimse'],
      openAssociations: 1,
    });
    expect(us).toMatchObject({
      id: s.us,
      project: 'KCL',
      releasedAt: 5,
      reasons: [{ rule: 'release', message: 'Rule release fired.' }],
    });
    expect(ctQ).toMatchObject({
      id: s.ctQ,
      project: 'QUARANTINE',
      target: 'quarantine',
      routeState: 'routed',
      senders: ['CT1'],
    });
  });

  it.each([
    [{ route: 'quarantined' as const }, ['ctQ']],
    [{ project: 'QUARANTINE' }, ['ctQ']],
    [{ route: 'released' as const }, ['us']],
    [{ route: 'unrouted' as const }, ['open']],
    [{ route: 'hospital' as const, state: 'delivered' as const }, ['ct']],
    [{ source: 'folder' as const }, ['mr']],
    [{ sender: 'ct1' }, ['us', 'ctQ', 'ct']],
    [{ sender: '10.0.0.7' }, ['open']],
    [{ modality: 'mr' }, ['open', 'mr']],
    [{ from: 6_000, to: 8_000 }, ['us', 'mr']],
    [{ from: 9_200 }, ['open']],
  ])('filters by %j', async (filter, expected) => {
    const s = seed();
    expect(await ids({ limit: 10, ...filter })).toEqual(expected.map((k) => s[k as keyof typeof s]));
  });

  it('sorts by a column either way, ties broken by id, unrouted projects last', async () => {
    const s = seed();
    expect(await ids({ limit: 10, sort: 'instances', order: 'asc' })).toEqual([s.mr, s.us, s.ct, s.open, s.ctQ]);
    expect(await ids({ limit: 10, sort: 'project', order: 'asc' })).toEqual([s.ct, s.mr, s.us, s.ctQ, s.open]);
    expect(await ids({ limit: 10, sort: 'received', order: 'asc' })).toEqual([s.ct, s.ctQ, s.mr, s.us, s.open]);
  });

  it('pages by offset with a total, and by the before cursor in the default order', async () => {
    const s = seed();
    const first = await list.page({ limit: 2, sort: 'received', order: 'asc' });
    expect(first).toMatchObject({ total: 5, nextOffset: 2, nextBefore: null });
    expect(await ids({ limit: 2, sort: 'received', order: 'asc', offset: 4 })).toEqual([s.open]);
    expect((await list.page({ limit: 2, sort: 'received', order: 'asc', offset: 4 })).nextOffset).toBeNull();
    const newest = await list.page({ limit: 2 });
    expect(newest.nextBefore).toBe(s.us);
    expect(await ids({ limit: 10, before: newest.nextBefore ?? 0 })).toEqual([s.mr, s.ctQ, s.ct]);
  });

  it('treats filter values as data, never as SQL', async () => {
    seed();
    expect((await list.page({ limit: 10, sender: "x' OR 1=1 --" })).total).toBe(0);
    expect((await list.page({ limit: 10, project: "KCL' OR '1'='1" })).total).toBe(0);
  });

  it('returns rows by id for find results, newest first', async () => {
    const s = seed();
    expect((await list.byIds([s.ct, s.us])).map((i) => i.id)).toEqual([s.us, s.ct]);
    expect(await list.byIds([])).toEqual([]);
  });
});
