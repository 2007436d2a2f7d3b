//! C-STORE statuses and association failures → verdicts and the series Delivery of the xnat-dimse sink.
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../../src/errors.ts';
import { DimseError } from '../../../../src/dicom/association/failure.ts';
import {
  associationFailure,
  classifyStatus,
  createTally,
  describeCounts,
  describeStatus,
  record,
  seriesFailure,
  statusCounts,
  type Verdict,
} from '../../../../src/sinks/xnat-dimse/classify.ts';
import type { DimseResponse } from '../../../../src/sinks/xnat-dimse/command.ts';

const WHERE = 'XNAT@xnat.example:8104';
const rsp = (status: number, errorComment: string | null = null): DimseResponse => ({
  commandField: 0x8001,
  messageIdBeingRespondedTo: 1,
  status,
  errorComment,
  offendingElements: [],
  affectedSopInstanceUid: null,
  hasDataset: false,
});

describe('classifyStatus', () => {
  const table: [number, Verdict, string][] = [
    [0x0000, 'success', 'success'],
    [0xb000, 'warning', 'coercion of data elements'],
    [0xb006, 'warning', 'elements discarded'],
    [0xb007, 'warning', 'data set does not match SOP class (warning)'],
    [0x0001, 'warning', 'PS3.7 C warning'],
    [0x0107, 'warning', 'attribute list error'],
    [0x0116, 'warning', 'attribute value out of range'],
    [0xa700, 'retry', 'out of resources (XNAT server problem)'],
    [0xa7ff, 'retry', 'out of resources, other code of the family'],
    [0x0110, 'retry', 'processing failure'],
    [0x0213, 'retry', 'resource limitation'],
    [0xfe00, 'retry', 'cancelled'],
    [0xc000, 'rejected', 'cannot understand (XNAT client problem)'],
    [0xc123, 'rejected', 'cannot understand, other code of the family'],
    [0xa900, 'rejected', 'data set does not match SOP class'],
    [0xa9ff, 'rejected', 'data set does not match SOP class, family'],
    [0x0122, 'rejected', 'SOP class not supported'],
    [0x0124, 'rejected', 'not authorised'],
    [0x0117, 'rejected', 'invalid object instance'],
    [0xff00, 'rejected', 'pending: not a C-STORE answer'],
  ];
  it.each(
    table.map(
      ([status, verdict, what]) => [status.toString(16).toUpperCase().padStart(4, '0'), verdict, what, status] as const,
    ),
  )('0x%s is %s (%s)', (_hex, verdict, _what, status) => {
    expect(classifyStatus(status)).toBe(verdict);
  });

  it('describes statuses in words where the family is known', () => {
    expect(describeStatus(0xa700)).toBe('0xA700 (out of resources)');
    expect(describeStatus(0xc001)).toBe('0xC001 (cannot understand)');
    expect(describeStatus(0x0122)).toBe('0x0122 (SOP class not supported)');
    expect(describeStatus(0x0211)).toBe('0x0211');
  });
});

describe('series outcome', () => {
  it('is null (delivered) when every instance was stored, warnings counted apart', () => {
    const t = createTally(4);
    for (const s of [0, 0, 0xb000, 0]) {
      record(t, 0, rsp(s));
    }
    expect(seriesFailure(t, WHERE)).toBeNull();
    expect(statusCounts(t)).toEqual({ '0000': 3, B000: 1 });
    expect(describeCounts(t)).toBe('0x0000 ×3, 0xB000 ×1');
  });

  it('retries on an out-of-resources answer, naming the instance and keeping the comment', () => {
    const t = createTally(20);
    record(t, 0, rsp(0));
    record(t, 1, rsp(0xa700, 'Disk full'));
    const d = seriesFailure(t, WHERE);
    expect(d).toEqual({
      outcome: 'retry',
      code: ErrorCode.DIMSE_RETRY,
      sinkFault: 'unavailable',
      reason: `ERR_DIMSE_RETRY: ${WHERE} answered 0xA700 (out of resources) for instance 2 of 20: Disk full.`,
      detail: { sent: 2, statuses: { '0000': 1, A700: 1 }, message: 'Disk full' },
    });
  });

  it("rejects on 0xC000 with XNAT's comment in the reason and the detail", () => {
    const t = createTally(3);
    record(t, 0, rsp(0));
    record(t, 1, rsp(0xc000, 'Unable to identify project'));
    record(t, 2, rsp(0));
    const d = seriesFailure(t, WHERE);
    expect(d?.outcome).toBe('rejected');
    expect(d).toMatchObject({
      code: ErrorCode.DIMSE_REJECTED,
      detail: { sent: 3, statuses: { '0000': 2, C000: 1 }, message: 'Unable to identify project' },
    });
    expect(d?.outcome === 'rejected' ? d.reason : '').toBe(
      `${WHERE} answered 0xC000 (cannot understand) for instance 2 of 3: Unable to identify project (0x0000 ×2, 0xC000 ×1).`,
    );
  });

  it('prefers retry when both a transient and a permanent failure were answered', () => {
    const t = createTally(2);
    record(t, 0, rsp(0xc000));
    record(t, 1, rsp(0xa702));
    expect(seriesFailure(t, WHERE)?.outcome).toBe('retry');
  });
});

describe('associationFailure', () => {
  it('rejects a permanent A-ASSOCIATE-RJ with its reason in words', () => {
    const err = new DimseError(
      'rejected',
      'association rejected permanently by the service user (called AE title not recognised; result 1, source 1, reason 7)',
      { result: 1, source: 1, reason: 7 },
    );
    const d = associationFailure(err, WHERE, null);
    expect(d).toMatchObject({ outcome: 'rejected', code: ErrorCode.DIMSE_ASSOCIATION });
    expect(d.outcome === 'rejected' ? d.reason : '').toMatch(
      /^XNAT@xnat\.example:8104: association rejected permanently .*called AE title not recognised/,
    );
  });

  it('retries a transient reject, keeping the association code', () => {
    const err = new DimseError(
      'rejected',
      'association rejected transiently by the service provider (presentation) (local limit exceeded; result 2, source 3, reason 2)',
      { result: 2, source: 3, reason: 2 },
    );
    expect(associationFailure(err, WHERE, null)).toMatchObject({
      outcome: 'retry',
      code: ErrorCode.DIMSE_ASSOCIATION,
      sinkFault: 'unavailable',
    });
  });

  it.each(['connect', 'timeout', 'aborted', 'closed', 'protocol'] as const)(
    'retries a %s failure, with progress so far',
    (kind) => {
      const t = createTally(10);
      for (let i = 0; i < 4; i++) {
        record(t, i, rsp(0));
      }
      const d = associationFailure(new DimseError(kind, 'connection refused'), WHERE, t);
      expect(d).toMatchObject({
        outcome: 'retry',
        code: ErrorCode.DIMSE_RETRY,
        detail: { sent: 4, statuses: { '0000': 4 }, message: 'connection refused' },
      });
      expect(d.outcome === 'retry' ? d.reason : '').toBe(
        `ERR_DIMSE_RETRY: ${WHERE}: connection refused after 4 of 10 instances.`,
      );
    },
  );

  it('retries an interruption without blaming the receiver', () => {
    const d = associationFailure(new DimseError('interrupted', 'the delivery was interrupted'), WHERE, null);
    expect(d).toMatchObject({ outcome: 'retry', code: ErrorCode.DIMSE_RETRY });
    expect(d.outcome === 'retry' ? d.sinkFault : 'x').toBeUndefined();
    expect(d.outcome === 'retry' ? d.reason : '').toMatch(/interrupted/);
  });
});
