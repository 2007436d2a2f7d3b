//! Reading DCMTK storescu's verbose log (`-v`): which files the receiver answered with Success.

/** Files for which storescu logged "Sending file" followed by a Success response, in order. */
export function acknowledgedFiles(storescuLog: string): string[] {
  const acked: string[] = [];
  let current: string | null = null;
  for (const line of storescuLog.split('\n')) {
    const sending = /Sending file: (.+)$/.exec(line);
    if (sending) {
      current = sending[1]?.trim() ?? null;
    }
    if (/Received Store Response \(Success\)/.test(line) && current) {
      acked.push(current);
      current = null;
    }
  }
  return acked;
}
