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
  if (uid === VERIFICATION_SOP_CLASS) {
    return true;
  }
  if (!/^[0-9]+(\.[0-9]+)*$/.test(uid) || uid.length > 64) {
    return false;
  }
  if (NON_STORAGE_PREFIXES.some((p) => uid === p || uid.startsWith(p.endsWith('.') ? p : `${p}.`))) {
    return false;
  }
  return !MODEL_QUERY.test(uid) && !PRINT.test(uid);
}

/**
 * Image storage SOP classes (PS3.4 Annex B) whose IOD has the Image Pixel or Floating Point Image
 * Pixel module as mandatory: an instance of one of them without pixel data is not an image of that
 * class (0xA900), and is most likely a transfer cut short at an element boundary. Conservative:
 * only classes listed here are checked; private and unlisted classes never are.
 */
const IMAGE_CLASSES: ReadonlySet<string> = new Set(
  [
    '1',
    '1.1',
    '1.1.1',
    '1.2',
    '1.2.1',
    '1.3',
    '1.3.1', // CR, DX, MG, IO (presentation, processing)
    '2',
    '2.1',
    '2.2', // CT, enhanced CT, legacy converted enhanced CT
    '3.1',
    '6.1',
    '6.2', // ultrasound multi-frame, ultrasound, enhanced US volume
    '4',
    '4.1',
    '4.3',
    '4.4', // MR, enhanced MR, enhanced MR colour, legacy converted enhanced MR
    '7',
    '7.1',
    '7.2',
    '7.3',
    '7.4', // secondary capture, multi-frame secondary capture
    '12.1',
    '12.1.1',
    '12.2',
    '12.2.1', // XA, enhanced XA, RF, enhanced XRF
    '13.1.1',
    '13.1.2',
    '13.1.3', // X-ray 3D angiographic and craniofacial, breast tomosynthesis
    '20',
    '30',
    '66.4', // NM, parametric map, segmentation
    '77.1.1',
    '77.1.1.1',
    '77.1.2',
    '77.1.2.1',
    '77.1.3',
    '77.1.4',
    '77.1.4.1', // VL endoscopic, microscopic, photographic (and video)
    '77.1.5.1',
    '77.1.5.2',
    '77.1.5.4',
    '77.1.6', // ophthalmic photography 8/16 bit, ophthalmic tomography, whole slide microscopy
    '128',
    '128.1',
    '130', // PET, legacy converted enhanced PET, enhanced PET
    '481.1', // RT image
  ].map((s) => `1.2.840.10008.5.1.4.1.1.${s}`),
);

/** True when instances of this SOP class must carry pixel data (7FE0,0008/0009/0010). */
export function requiresPixelData(sopClassUid: string): boolean {
  return IMAGE_CLASSES.has(sopClassUid);
}
