//! The Store Instances Response (PS3.18 §10.5.3, Annex I): HTTP status and the DICOM JSON or XML body.
// Retrieve URL (0008,1190) is Type 2: present and empty, because the gateway forwards instances
// and offers no Retrieve transaction (a URL would point nowhere).
import type { PartOutcome } from './part-api.ts';
import { FailureReason } from './failure.ts';

export type ResponseType = 'application/dicom+json' | 'application/json' | 'application/dicom+xml';
export const RESPONSE_TYPES: readonly ResponseType[] = [
  'application/dicom+json',
  'application/json',
  'application/dicom+xml',
];

interface Attr {
  readonly tag: string;
  readonly vr: 'UI' | 'US' | 'UR' | 'SQ';
  readonly keyword: string;
  readonly value?: string | number;
  readonly items?: readonly (readonly Attr[])[];
}

const uid = (tag: string, keyword: string, v: string | null): Attr[] =>
  v === null ? [] : [{ tag, vr: 'UI', keyword, value: v }];
const RETRIEVE_URL: Attr = { tag: '00081190', vr: 'UR', keyword: 'RetrieveURL' };

function model(results: readonly PartOutcome[]): Attr[] {
  const stored = results.filter((r) => r.ok);
  const failed = results.filter((r) => !r.ok);
  const attrs: Attr[] = [RETRIEVE_URL];
  if (failed.length) {
    attrs.push({
      tag: '00081198',
      vr: 'SQ',
      keyword: 'FailedSOPSequence',
      items: failed.map((f) => [
        ...uid('00081150', 'ReferencedSOPClassUID', f.sopClassUid),
        ...uid('00081155', 'ReferencedSOPInstanceUID', f.sopInstanceUid),
        { tag: '00081197', vr: 'US', keyword: 'FailureReason', value: f.reason },
      ]),
    });
  }
  if (stored.length) {
    attrs.push({
      tag: '00081199',
      vr: 'SQ',
      keyword: 'ReferencedSOPSequence',
      items: stored.map((s) => [
        ...uid('00081150', 'ReferencedSOPClassUID', s.sopClassUid),
        ...uid('00081155', 'ReferencedSOPInstanceUID', s.sopInstanceUid),
        RETRIEVE_URL,
      ]),
    });
  }
  return attrs;
}

/** PS3.18 Annex F.2 (DICOM JSON Model). */
function toJson(attrs: readonly Attr[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const a of attrs) {
    if (a.items) {
      out[a.tag] = { vr: a.vr, Value: a.items.map(toJson) };
    } else {
      out[a.tag] = a.value === undefined ? { vr: a.vr } : { vr: a.vr, Value: [a.value] };
    }
  }
  return out;
}

const xmlEscape = (s: string): string => s.replace(/[<>&"']/g, (c) => `&#${String(c.charCodeAt(0))};`);

/** PS3.19 Native DICOM Model. */
function toXml(attrs: readonly Attr[], indent = '  '): string {
  return attrs
    .map((a) => {
      const open = `${indent}<DicomAttribute tag="${a.tag}" vr="${a.vr}" keyword="${a.keyword}"`;
      if (a.items) {
        const items = a.items
          .map(
            (it, i) => `${indent}  <Item number="${String(i + 1)}">\n${toXml(it, `${indent}    `)}${indent}  </Item>\n`,
          )
          .join('');
        return `${open}>\n${items}${indent}</DicomAttribute>\n`;
      }
      if (a.value === undefined) {
        return `${open}/>\n`;
      }
      return `${open}><Value number="1">${xmlEscape(String(a.value))}</Value></DicomAttribute>\n`;
    })
    .join('');
}

/** The body of a Store Instances Response in the negotiated type. */
export function encodeResponse(results: readonly PartOutcome[], type: ResponseType): string {
  const attrs = model(results);
  if (type === 'application/dicom+xml') {
    return `<?xml version="1.0" encoding="UTF-8"?>\n<NativeDicomModel xmlns="http://dicom.nema.org/PS3.19/models/NativeDICOM" xml:space="preserve">\n${toXml(attrs)}</NativeDicomModel>\n`;
  }
  return JSON.stringify(toJson(attrs));
}

/**
 * 200 every instance stored; 202 some stored, some failed; 409 none stored. None stored and every
 * failure out of resources (a full disk, the backlog, a shutdown): 503, the sender should retry later.
 */
export function statusFor(results: readonly PartOutcome[]): 200 | 202 | 409 | 503 {
  const failed = results.filter((r) => !r.ok);
  if (failed.length === 0) {
    return 200;
  }
  if (failed.length < results.length) {
    return 202;
  }
  return failed.every((f) => f.reason === FailureReason.OutOfResources) ? 503 : 409;
}
