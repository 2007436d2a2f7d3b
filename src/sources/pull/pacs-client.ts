//! The Q/R client of a configured PACS: its address, AE titles and time limits from its `pacs:` entry.
import { createQrClient } from '../../dicom/qr/client.ts';
import { type QrClient } from '../../dicom/qr/api.ts';
import type { PacsConfig } from './config.ts';

export function qrClientFor(p: PacsConfig): QrClient {
  return createQrClient({
    host: p.host,
    port: p.port,
    calledAe: p.aeTitle,
    callingAe: p.callingAe,
    maxPduLength: p.maxPduLength,
    connectTimeoutMs: p.connectTimeoutMs,
    responseTimeoutMs: p.responseTimeoutMs,
    retrieveIdleTimeoutMs: p.retrieveIdleTimeoutMs,
    cancelTimeoutMs: p.cancelTimeoutMs,
  });
}
