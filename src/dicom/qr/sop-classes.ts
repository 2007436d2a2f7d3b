//! The Study Root Q/R SOP classes, and the storage classes and syntaxes a C-GET proposes to receive.
import type { ProposedContext, RoleSelection } from '../pdu.ts';
import { TS } from '../transfer-syntax.ts';

export const StudyRoot = {
  Find: '1.2.840.10008.5.1.4.1.2.2.1',
  Move: '1.2.840.10008.5.1.4.1.2.2.2',
  Get: '1.2.840.10008.5.1.4.1.2.2.3',
} as const;

/** Q/R levels of the Study Root information model (PS3.4 C.6.2). */
export type QrLevel = 'STUDY' | 'SERIES' | 'IMAGE';

/**
 * Storage classes proposed on a C-GET association, most common first. A C-GET can only bring back
 * instances of a class proposed here (PS3.4 C.4.3.3), and an association holds 128 contexts, so
 * this is a choice: every image class in clinical use, RT, SR, SEG, KO, PR, encapsulated PDF.
 * A caller that knows a study's classes (from an IMAGE-level C-FIND) proposes exactly those.
 */
export const DEFAULT_GET_STORAGE_CLASSES: readonly string[] = [
  '1.2.840.10008.5.1.4.1.1.2', // CT
  '1.2.840.10008.5.1.4.1.1.4', // MR
  '1.2.840.10008.5.1.4.1.1.1', // CR
  '1.2.840.10008.5.1.4.1.1.1.1', // DX for presentation
  '1.2.840.10008.5.1.4.1.1.1.1.1', // DX for processing
  '1.2.840.10008.5.1.4.1.1.1.2', // MG for presentation
  '1.2.840.10008.5.1.4.1.1.1.2.1', // MG for processing
  '1.2.840.10008.5.1.4.1.1.6.1', // US
  '1.2.840.10008.5.1.4.1.1.3.1', // US multi-frame
  '1.2.840.10008.5.1.4.1.1.20', // NM
  '1.2.840.10008.5.1.4.1.1.128', // PET
  '1.2.840.10008.5.1.4.1.1.130', // enhanced PET
  '1.2.840.10008.5.1.4.1.1.2.1', // enhanced CT
  '1.2.840.10008.5.1.4.1.1.2.2', // legacy converted enhanced CT
  '1.2.840.10008.5.1.4.1.1.4.1', // enhanced MR
  '1.2.840.10008.5.1.4.1.1.4.2', // MR spectroscopy
  '1.2.840.10008.5.1.4.1.1.4.3', // enhanced MR colour
  '1.2.840.10008.5.1.4.1.1.4.4', // legacy converted enhanced MR
  '1.2.840.10008.5.1.4.1.1.12.1', // XA
  '1.2.840.10008.5.1.4.1.1.12.1.1', // enhanced XA
  '1.2.840.10008.5.1.4.1.1.12.2', // RF
  '1.2.840.10008.5.1.4.1.1.12.2.1', // enhanced XRF
  '1.2.840.10008.5.1.4.1.1.13.1.3', // breast tomosynthesis
  '1.2.840.10008.5.1.4.1.1.7', // secondary capture
  '1.2.840.10008.5.1.4.1.1.7.1', // multi-frame single bit SC
  '1.2.840.10008.5.1.4.1.1.7.2', // multi-frame grayscale byte SC
  '1.2.840.10008.5.1.4.1.1.7.3', // multi-frame grayscale word SC
  '1.2.840.10008.5.1.4.1.1.7.4', // multi-frame true colour SC
  '1.2.840.10008.5.1.4.1.1.481.1', // RT image
  '1.2.840.10008.5.1.4.1.1.481.2', // RT dose
  '1.2.840.10008.5.1.4.1.1.481.3', // RT structure set
  '1.2.840.10008.5.1.4.1.1.481.5', // RT plan
  '1.2.840.10008.5.1.4.1.1.481.8', // RT ion plan
  '1.2.840.10008.5.1.4.1.1.66', // raw data
  '1.2.840.10008.5.1.4.1.1.66.1', // spatial registration
  '1.2.840.10008.5.1.4.1.1.66.4', // segmentation
  '1.2.840.10008.5.1.4.1.1.67', // real world value mapping
  '1.2.840.10008.5.1.4.1.1.30', // parametric map
  '1.2.840.10008.5.1.4.1.1.11.1', // grayscale softcopy presentation state
  '1.2.840.10008.5.1.4.1.1.88.11', // basic text SR
  '1.2.840.10008.5.1.4.1.1.88.22', // enhanced SR
  '1.2.840.10008.5.1.4.1.1.88.33', // comprehensive SR
  '1.2.840.10008.5.1.4.1.1.88.67', // X-ray radiation dose SR
  '1.2.840.10008.5.1.4.1.1.88.59', // key object selection
  '1.2.840.10008.5.1.4.1.1.104.1', // encapsulated PDF
  '1.2.840.10008.5.1.4.1.1.77.1.1', // VL endoscopic
  '1.2.840.10008.5.1.4.1.1.77.1.4', // VL photographic
  '1.2.840.10008.5.1.4.1.1.77.1.5.1', // ophthalmic photography 8 bit
  '1.2.840.10008.5.1.4.1.1.77.1.5.4', // ophthalmic tomography
  '1.2.840.10008.5.1.4.1.1.77.1.6', // VL whole slide microscopy
];

/**
 * Syntaxes proposed per storage class on a C-GET: we store instances as they come, so the PACS
 * may send what it holds (compressed or not) without transcoding.
 */
export const GET_TRANSFER_SYNTAXES: readonly string[] = [
  TS.ExplicitLE,
  TS.ImplicitLE,
  TS.DeflatedExplicitLE,
  TS.ExplicitBE,
  TS.RLE,
  '1.2.840.10008.1.2.4.50',
  '1.2.840.10008.1.2.4.51',
  '1.2.840.10008.1.2.4.57',
  '1.2.840.10008.1.2.4.70',
  '1.2.840.10008.1.2.4.80',
  '1.2.840.10008.1.2.4.81',
  '1.2.840.10008.1.2.4.90',
  '1.2.840.10008.1.2.4.91',
];

/** Syntaxes for identifiers (C-FIND, C-MOVE, C-GET contexts). */
export const QUERY_TRANSFER_SYNTAXES: readonly string[] = [TS.ExplicitLE, TS.ImplicitLE];

/** PS3.8 §9.3.2.2: odd ids 1–255. */
const MAX_CONTEXTS = 128;

/**
 * The contexts of a C-GET association: the GET class first (id 1), then one context per storage
 * class (at most 127), each with the SCP role proposed.
 */
export function getAssociationContexts(storageClasses: readonly string[]): {
  contexts: ProposedContext[];
  roles: RoleSelection[];
} {
  const unique = [...new Set(storageClasses)].slice(0, MAX_CONTEXTS - 1);
  const contexts: ProposedContext[] = [
    { id: 1, abstractSyntax: StudyRoot.Get, transferSyntaxes: QUERY_TRANSFER_SYNTAXES },
  ];
  unique.forEach((uid, i) => {
    contexts.push({ id: 3 + i * 2, abstractSyntax: uid, transferSyntaxes: GET_TRANSFER_SYNTAXES });
  });
  return { contexts, roles: unique.map((sopClassUid) => ({ sopClassUid, scu: false, scp: true })) };
}
