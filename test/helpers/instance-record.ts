//! Test helper: an InstanceRecord as the intake records one (a CT instance from a DIMSE sender), with overrides.
import type { InstanceRecord } from '../../src/store/instances.ts';

export const instanceRecord = (o: Partial<InstanceRecord> = {}): InstanceRecord => ({
  studyUid: '1.2.3',
  seriesUid: '1.2.3.4',
  sopInstanceUid: '1.2.3.4.1',
  sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
  transferSyntaxUid: '1.2.840.10008.1.2.1',
  instanceNumber: 1,
  modality: 'CT',
  path: 'aa/x/1.dcm',
  size: 100,
  datasetSha256: 'a'.repeat(64),
  source: 'dimse',
  associationId: null,
  callingAe: 'CT1',
  calledAe: 'XNAT',
  peerIp: '10.0.0.5',
  origin: null,
  at: 1000,
  ...o,
});
