import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { shiftDate, shiftDateTime, subjectOffsetDays } from '../../../../src/transforms/anonymise/dates.ts';
import { loadOrCreateKey, projectKey } from '../../../../src/transforms/anonymise/keys.ts';
import {
  createUidMapper,
  isDefinitionTag,
  isRegisteredUid,
  keyedUid,
} from '../../../../src/transforms/anonymise/uids.ts';

const key = projectKey('P', Buffer.alloc(32, 7));
const other = projectKey('Q', Buffer.alloc(32, 8));

describe('keyed UIDs', () => {
  it('gives a 2.25 UID of a version-8 UUID, the same for padded and unpadded input, different per key', () => {
    const u = keyedUid(key, '1.2.826.0.1.3680043.8.498.1');
    expect(u).toMatch(/^2\.25\.[1-9]\d{0,38}$/);
    expect(u.length).toBeLessThanOrEqual(44);
    const hex = BigInt(u.slice(5)).toString(16).padStart(32, '0');
    expect(hex[12]).toBe('8');
    expect(['8', '9', 'a', 'b']).toContain(hex[16]);
    expect(keyedUid(key, '1.2.826.0.1.3680043.8.498.1\0')).toBe(u);
    expect(keyedUid(other, '1.2.826.0.1.3680043.8.498.1')).not.toBe(u);
  });

  it('never changes registered UIDs and keeps definition attributes', () => {
    const m = createUidMapper(key);
    expect(m.map('1.2.840.10008.5.1.4.1.1.2')).toBe('1.2.840.10008.5.1.4.1.1.2');
    expect(isRegisteredUid('1.2.840.10008.1.4.1.1')).toBe(true);
    expect(isDefinitionTag(0x00081150)).toBe(true); // ReferencedSOPClassUID
    expect(isDefinitionTag(0x0008010c)).toBe(true); // CodingSchemeUID
    expect(isDefinitionTag(0x00081155)).toBe(false); // ReferencedSOPInstanceUID
    expect(m.map('1.2.3.4')).toBe(keyedUid(key, '1.2.3.4'));
    expect([...m.pairs]).toEqual([['1.2.3.4', keyedUid(key, '1.2.3.4')]]);
  });
});

describe('keyed date offsets', () => {
  it('is the same for a subject on every call and inside the configured range, whole weeks when asked', () => {
    const days = subjectOffsetDays(key, 'HOSP', 'MRN1', { unit: 'days', minDays: 365, maxDays: 3650 });
    expect(days).toBe(subjectOffsetDays(key, 'HOSP', 'MRN1', { unit: 'days', minDays: 365, maxDays: 3650 }));
    expect(days).toBeGreaterThanOrEqual(365);
    expect(days).toBeLessThanOrEqual(3650);
    const weeks = subjectOffsetDays(key, 'HOSP', 'MRN1', { unit: 'weeks', minDays: 365, maxDays: 3650 });
    expect(weeks % 7).toBe(0);
    const spread = new Set(
      Array.from({ length: 50 }, (_, i) =>
        subjectOffsetDays(key, '', `MRN${String(i)}`, { unit: 'days', minDays: 365, maxDays: 3650 }),
      ),
    );
    expect(spread.size).toBeGreaterThan(40);
  });

  it('shifts DA and the date part of DT, and refuses invalid or partial dates', () => {
    expect(shiftDate('20240301', 1)).toBe('20240229');
    expect(shiftDateTime('20240301093000.5+0100', 1)).toBe('20240229093000.5+0100');
    expect(shiftDate('1994.01.30', 1)).toBeNull();
    expect(shiftDate('2026', 1)).toBeNull();
    expect(shiftDate('20230230', 1)).toBeNull();
  });
});

describe('project keys', () => {
  it('creates a 0600 key once, in a 0700 directory, and reads the same key back', async () => {
    const root = mkdtempSync(join(tmpdir(), 'xnatgw-keys-'));
    onTestFinished(() => {
      rmSync(root, { recursive: true, force: true });
    });
    const dir = join(root, 'keys');
    const a = await loadOrCreateKey(dir, 'KCL');
    const b = await loadOrCreateKey(dir, 'KCL');
    expect(a.created).toBe(true);
    expect(b.created).toBe(false);
    expect(b.key.keyId).toBe(a.key.keyId);
    expect(statSync(join(dir, 'KCL.key')).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    await expect(loadOrCreateKey(dir, '../x')).rejects.toThrow(/Project ids/);
  });
});
