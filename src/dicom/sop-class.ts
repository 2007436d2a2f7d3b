//! Which proposed abstract syntaxes the receiver accepts: Verification and any storage class.

export const VERIFICATION_SOP_CLASS = '1.2.840.10008.1.1';

/**
 * Standard SOP classes that are services, not storage: query/retrieve, worklists, MPPS,
 * storage commitment, print management, UPS, instance availability and the various
 * "information model" queries. We do not implement them, so we refuse them in negotiation.
 * Everything else — every standard storage class, retired ones, private and unknown UIDs — is
 * accepted as storage, because refusing an unknown class loses data (CTP issue #35).
 */
const NON_STORAGE_PREFIXES = [
  '1.2.840.10008.5.1.4.1.2.', // Patient/Study Root Q/R FIND, MOVE, GET and composite instance retrieve
  '1.2.840.10008.5.1.4.31', // Modality Worklist FIND
  '1.2.840.10008.5.1.4.32', // General Purpose Worklist (retired)
  '1.2.840.10008.5.1.4.33', // Instance Availability Notification
  '1.2.840.10008.5.1.4.34.6', // Unified Procedure Step push/watch/pull/event/query
  '1.2.840.10008.5.1.4.37', // Relevant Patient Information query
  '1.2.840.10008.5.1.4.41', // Product Characteristics query
  '1.2.840.10008.5.1.4.42', // Substance Approval query
  '1.2.840.10008.3.1.2.3.', // MPPS, notification, retrieve
  '1.2.840.10008.3.1.2.5.', // Modality Performed Procedure Step related (retired)
  '1.2.840.10008.3.1.2.6.', // Detached study management (retired)
  '1.2.840.10008.1.20.', // Storage Commitment push/pull
  '1.2.840.10008.1.40', // Procedural Event Logging
  '1.2.840.10008.1.42', // Substance Administration Logging
  '1.2.840.10008.1.9', // Basic Study Content Notification (retired)
];

/** Q/R FIND/MOVE/GET classes of non-image information models (x.2, x.3, x.4). */
const MODEL_QUERY = /^1\.2\.840\.10008\.5\.1\.4\.(38|39|43|44|45)\.[234]$/;

/** Print management, except the retired print storage classes (5.1.1.27, .29, .30). */
const PRINT = /^1\.2\.840\.10008\.5\.1\.1\.(?!27$|29$|30$)\d+(\.\d+)*$/;

/** True when the receiver should accept a presentation context for this abstract syntax. */
export function isAcceptedAbstractSyntax(uid: string): boolean {
  if (uid === VERIFICATION_SOP_CLASS) {return true;}
  if (!/^[0-9]+(\.[0-9]+)*$/.test(uid) || uid.length > 64) {return false;}
  if (NON_STORAGE_PREFIXES.some((p) => uid === p || uid.startsWith(p.endsWith('.') ? p : `${p}.`))) {return false;}
  return !MODEL_QUERY.test(uid) && !PRINT.test(uid);
}
