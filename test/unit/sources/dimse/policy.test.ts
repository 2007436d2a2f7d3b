import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../../src/errors.ts';
import type { Admission } from '../../../../src/contracts/component.ts';
import { dimseConfig } from '../../../../src/sources/dimse/config.ts';
import { createAssociationPolicy, type AssociationRequest } from '../../../../src/sources/dimse/policy.ts';

const rq = (o: Partial<AssociationRequest> = {}): AssociationRequest => ({
  calledAe: 'XNAT',
  callingAe: 'MODALITY',
  peerIp: '10.1.2.3',
  openAssociations: 0,
  peerAssociations: 0,
  ...o,
});

function policy(cfg: Record<string, unknown> = {}, admission: Admission = { ok: true }) {
  return createAssociationPolicy(dimseConfig.parse(cfg), () => Promise.resolve(admission));
}

describe('association policy', () => {
  it('accepts an association to our AE title with the default config', async () => {
    expect(await policy()(rq())).toBeNull();
  });

  it('rejects another called AE title permanently with reason 7', async () => {
    expect(await policy()(rq({ calledAe: 'PACS' }))).toMatchObject({
      result: 1,
      source: 1,
      reason: 7,
      code: ErrorCode.ASSOC_CALLED_AE,
    });
  });

  it('matches the called AE title after trimming our configured padding', async () => {
    expect(await policy({ aeTitle: 'GATEWAY ' })(rq({ calledAe: 'GATEWAY' }))).toBeNull();
  });

  it('accepts any called AE title when configured to', async () => {
    expect(await policy({ acceptAnyCalledAe: true })(rq({ calledAe: 'ANYTHING' }))).toBeNull();
  });

  it('rejects a calling AE title outside the allow-list with reason 3', async () => {
    const p = policy({ allowedCallingAeTitles: ['CT1', 'MR1'] });
    expect(await p(rq({ callingAe: 'MR1' }))).toBeNull();
    expect(await p(rq({ callingAe: 'US1' }))).toMatchObject({
      result: 1,
      source: 1,
      reason: 3,
      code: ErrorCode.ASSOC_CALLING_AE,
    });
  });

  it('checks the called AE title before the calling AE title', async () => {
    const p = policy({ allowedCallingAeTitles: ['CT1'] });
    expect((await p(rq({ calledAe: 'PACS', callingAe: 'US1' })))?.reason).toBe(7);
  });

  it('accepts peers in the address and CIDR allow-list and rejects others with reason 3', async () => {
    const p = policy({ allowedPeers: ['10.1.0.0/16', '192.168.5.7', 'fd00::/8'] });
    expect(await p(rq({ peerIp: '10.1.2.3' }))).toBeNull();
    expect(await p(rq({ peerIp: '192.168.5.7' }))).toBeNull();
    expect(await p(rq({ peerIp: 'fd00::1234' }))).toBeNull();
    expect(await p(rq({ peerIp: '10.2.0.1' }))).toMatchObject({
      result: 1,
      source: 1,
      reason: 3,
      code: ErrorCode.ASSOC_PEER_IP,
    });
    expect(await p(rq({ peerIp: '192.168.5.8' }))).toMatchObject({ reason: 3, code: ErrorCode.ASSOC_PEER_IP });
    expect(await p(rq({ peerIp: 'fe80::1' }))).toMatchObject({ reason: 3, code: ErrorCode.ASSOC_PEER_IP });
  });

  it('matches IPv4-mapped IPv6 peer addresses against IPv4 rules', async () => {
    const p = policy({ allowedPeers: ['10.1.0.0/16'] });
    expect(await p(rq({ peerIp: '::ffff:10.1.2.3' }))).toBeNull();
    const r = await p(rq({ peerIp: '::ffff:10.9.2.3' }));
    expect(r).toMatchObject({ reason: 3, code: ErrorCode.ASSOC_PEER_IP });
    expect(r?.message).toContain('10.9.2.3');
  });

  it('accepts any peer when the allow-list is empty', async () => {
    expect(await policy()(rq({ peerIp: '203.0.113.9' }))).toBeNull();
  });

  it('rejects transiently (result 2, source 3, reason 2) once the association limit is reached', async () => {
    const p = policy({ maxAssociations: 2 });
    expect(await p(rq({ openAssociations: 1 }))).toBeNull();
    expect(await p(rq({ openAssociations: 2 }))).toMatchObject({
      result: 2,
      source: 3,
      reason: 2,
      code: ErrorCode.ASSOC_LIMIT,
    });
  });

  it('rejects transiently when admission refuses, carrying its message', async () => {
    const p = policy({}, { ok: false, code: ErrorCode.SPOOL_FULL, message: 'Disk nearly full.' });
    expect(await p(rq())).toEqual({
      result: 2,
      source: 3,
      reason: 2,
      code: ErrorCode.ASSOC_BACKPRESSURE,
      message: 'Disk nearly full.',
    });
  });

  it('asks admission on every request, so a recovered disk admits again', async () => {
    let admission: Admission = { ok: false, code: ErrorCode.QUEUE_BACKLOG, message: 'Backlog.' };
    const p = createAssociationPolicy(dimseConfig.parse({}), () => Promise.resolve(admission));
    expect((await p(rq()))?.code).toBe(ErrorCode.ASSOC_BACKPRESSURE);
    admission = { ok: true };
    expect(await p(rq())).toBeNull();
  });

  it('refuses permanent problems before transient ones', async () => {
    const p = policy({ maxAssociations: 1 }, { ok: false, code: ErrorCode.SPOOL_FULL, message: 'full' });
    expect((await p(rq({ calledAe: 'PACS', openAssociations: 5 })))?.reason).toBe(7);
  });
});
