//! XNAT's data types for what a session build finds: the session's and each scan's XSI type.
import type { FileRec } from './model.ts';

const SESSION_TYPES: Record<string, string> = {
  CT: 'xnat:ctSessionData',
  MR: 'xnat:mrSessionData',
  PT: 'xnat:petSessionData',
  US: 'xnat:usSessionData',
  CR: 'xnat:crSessionData',
  DX: 'xnat:dxSessionData',
  MG: 'xnat:mgSessionData',
  NM: 'xnat:nmSessionData',
  XA: 'xnat:xaSessionData',
  RTSTRUCT: 'xnat:rtSessionData',
  RTPLAN: 'xnat:rtSessionData',
  RTDOSE: 'xnat:rtSessionData',
  RTIMAGE: 'xnat:rtSessionData',
};

/** The session's XSI type from its first imaging modality (RT objects only count when alone). */
export function sessionType(files: Iterable<Pick<FileRec, 'modality'>>): string {
  const modalities = [...files].map((f) => f.modality ?? '');
  const imaging =
    modalities.find((mod) => SESSION_TYPES[mod] !== undefined && !mod.startsWith('RT')) ??
    modalities.find((mod) => SESSION_TYPES[mod] !== undefined);
  return (imaging && SESSION_TYPES[imaging]) ?? 'xnat:otherDicomSessionData';
}

/** The scan's XSI type from its modality. */
export function scanType(modality: string | null): string {
  const t = SESSION_TYPES[modality ?? ''];
  return t && !(modality ?? '').startsWith('RT') ? t.replace('SessionData', 'ScanData') : 'xnat:otherDicomScanData';
}

/**
 * ScanIdValidator's modality code of a scan type: the two letters after `xnat:` in upper case
 * (`xnat:ctScanData` → CT, `xnat:otherDicomScanData` → OT), PE corrected to PT; '' for other schemas.
 */
export function modalityCode(xsiType: string): string {
  if (!xsiType.startsWith('xnat:')) {
    return '';
  }
  const code = xsiType.slice(5, 7).toUpperCase();
  return code === 'PE' ? 'PT' : code;
}
