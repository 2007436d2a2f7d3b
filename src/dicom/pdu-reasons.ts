//! Upper Layer refusals in words: A-ASSOCIATE-RJ and A-ABORT reasons (PS3.8 Tables 9-21 and 9-26) as administrators read them.
import type { AssociateRj } from './pdu.ts';

const REJECT_RESULT: Record<number, string> = { 1: 'rejected permanently', 2: 'rejected transiently' };
const REJECT_REASON: Record<string, string> = {
  '1/1': 'no reason given',
  '1/2': 'application context name not supported',
  '1/3': 'calling AE title not recognised',
  '1/7': 'called AE title not recognised',
  '2/1': 'no reason given',
  '2/2': 'protocol version not supported',
  '3/1': 'temporary congestion',
  '3/2': 'local limit exceeded',
};
const REJECT_SOURCE: Record<number, string> = {
  1: 'service user',
  2: 'service provider (ACSE)',
  3: 'service provider (presentation)',
};

/** "rejected permanently by the service user (called AE title not recognised; result 1, source 1, reason 7)". */
export function describeReject(rj: AssociateRj): string {
  const reason = REJECT_REASON[`${String(rj.source)}/${String(rj.reason)}`] ?? 'unknown reason';
  return `${REJECT_RESULT[rj.result] ?? 'rejected'} by the ${REJECT_SOURCE[rj.source] ?? 'peer'} (${reason}; result ${String(rj.result)}, source ${String(rj.source)}, reason ${String(rj.reason)})`;
}

const ABORT_REASON: Record<number, string> = {
  0: 'reason not specified',
  1: 'unrecognised PDU',
  2: 'unexpected PDU',
  4: 'unrecognised PDU parameter',
  5: 'unexpected PDU parameter',
  6: 'invalid PDU parameter value',
};

/** "aborted by the service provider (unexpected PDU; source 2, reason 2)". */
export function describeAbort(a: { source: number; reason: number }): string {
  const who = a.source === 0 ? 'service user' : a.source === 2 ? 'service provider' : 'peer';
  const why = a.source === 2 ? (ABORT_REASON[a.reason] ?? 'unknown reason') : 'no reason given';
  return `aborted by the ${who} (${why}; source ${String(a.source)}, reason ${String(a.reason)})`;
}
