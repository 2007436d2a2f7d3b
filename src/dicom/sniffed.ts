//! What recognising a file by content finds: a Part 10 instance, a bare dataset, a DICOMDIR, DICOM the gateway cannot take, or not DICOM.

export type Sniffed =
  | {
      readonly kind: 'part10';
      readonly transferSyntaxUid: string;
      readonly sopClassUid: string;
      readonly sopInstanceUid: string;
      readonly datasetOffset: number;
    }
  | {
      readonly kind: 'bare';
      readonly transferSyntaxUid: string;
      readonly sopClassUid: string;
      readonly sopInstanceUid: string;
      readonly datasetOffset: number;
    }
  | { readonly kind: 'dicomdir'; readonly datasetOffset: number }
  /**
   * DICOM (a "DICM" marker, a File Meta Information, or a dataset that names its SOP class and
   * instance), but not an instance the gateway can take: no SOP Instance UID, no study or series,
   * cut short. Callers report it as a DICOM file they could not process, never as "not DICOM".
   */
  | { readonly kind: 'invalid'; readonly reason: string }
  | { readonly kind: 'not-dicom'; readonly reason: string };

/** What classify finds: a Sniffed, and for a DICOMDIR also the syntax its records are written in. */
export type Classified =
  | Exclude<Sniffed, { kind: 'dicomdir' }>
  | { readonly kind: 'dicomdir'; readonly datasetOffset: number; readonly transferSyntaxUid: string };
