//! Query/Retrieve statuses (PS3.4 C.4.1.1.4, C.4.2.1.5, C.4.3.1.4; PS3.7 Annex C) in classes a caller acts on.

/**
 * success / pending: the operation goes on or ended well; cancel: it ended after our C-CANCEL;
 * warning: it ended with some sub-operations failed (C-MOVE/C-GET 0xB000); transient: asking again
 * later may work (out of resources, processing failure); permanent: asking again will not help
 * (unknown move destination, identifier not matching the SOP class, SOP class not supported).
 */
export type QrStatusClass = 'success' | 'pending' | 'cancel' | 'warning' | 'transient' | 'permanent';

export const QrStatus = {
  Success: 0x0000,
  Pending: 0xff00,
  /** Pending, some optional keys not supported (C-FIND). */
  PendingWarning: 0xff01,
  Cancel: 0xfe00,
  /** Sub-operations complete, one or more failed or had warnings (C-MOVE, C-GET). */
  SubOperationsWarning: 0xb000,
  OutOfResources: 0xa700,
  /** Out of resources: unable to calculate number of matches (C-MOVE, C-GET). */
  OutOfResourcesMatches: 0xa701,
  /** Out of resources: unable to perform sub-operations (C-MOVE, C-GET). */
  OutOfResourcesSubOperations: 0xa702,
  MoveDestinationUnknown: 0xa801,
  IdentifierDoesNotMatch: 0xa900,
  ProcessingFailure: 0x0110,
  SopClassNotSupported: 0x0122,
  ResourceLimitation: 0x0213,
} as const;

export function classifyQrStatus(status: number): QrStatusClass {
  if (status === QrStatus.Success) {
    return 'success';
  }
  if (status === QrStatus.Pending || status === QrStatus.PendingWarning) {
    return 'pending';
  }
  if (status === QrStatus.Cancel) {
    return 'cancel';
  }
  if ((status & 0xf000) === 0xb000 || status === 0x0001 || status === 0x0107 || status === 0x0116) {
    return 'warning';
  }
  if ((status & 0xff00) === 0xa700 || status === QrStatus.ProcessingFailure || status === QrStatus.ResourceLimitation) {
    return 'transient';
  }
  // 0xA801 unknown destination, 0xA900 identifier does not match, 0xCxxx unable to process,
  // 0x0122 SOP class not supported, 0x0124 not authorised, and anything unknown.
  return 'permanent';
}

const WORDS: Readonly<Record<number, string>> = {
  [QrStatus.Success]: 'success',
  [QrStatus.Pending]: 'pending',
  [QrStatus.PendingWarning]: 'pending, optional keys not supported',
  [QrStatus.Cancel]: 'cancelled',
  [QrStatus.SubOperationsWarning]: 'sub-operations complete, one or more failed',
  [QrStatus.OutOfResources]: 'out of resources',
  [QrStatus.OutOfResourcesMatches]: 'out of resources: unable to calculate the number of matches',
  [QrStatus.OutOfResourcesSubOperations]: 'out of resources: unable to perform sub-operations',
  [QrStatus.MoveDestinationUnknown]: 'move destination unknown',
  [QrStatus.IdentifierDoesNotMatch]: 'identifier does not match SOP class',
  [QrStatus.ProcessingFailure]: 'processing failure',
  [QrStatus.SopClassNotSupported]: 'SOP class not supported',
  [QrStatus.ResourceLimitation]: 'resource limitation',
  0x0124: 'not authorised',
};

/** "0xA801 (move destination unknown)" */
export function describeQrStatus(status: number): string {
  const hex = `0x${status.toString(16).toUpperCase().padStart(4, '0')}`;
  const words =
    WORDS[status] ??
    ((status & 0xf000) === 0xc000
      ? 'unable to process'
      : (status & 0xff00) === 0xa700
        ? 'out of resources'
        : undefined);
  return words === undefined ? hex : `${hex} (${words})`;
}
