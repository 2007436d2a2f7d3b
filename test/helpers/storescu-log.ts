//! Reading DCMTK storescu's verbose log (`-v`): which files the receiver answered with Success, and which with a failure status.

/** storescu -v output → files answered Success, and files answered with a failure status, in order. */
export function storescuOutcomes(storescuLog: string): { acked: string[]; refused: string[] } {
  const acked: string[] = [];
  const refused: string[] = [];
  let current: string | null = null;
  for (const line of storescuLog.split('\n')) {
    const sending = /Sending file: (.+)$/.exec(line);
    if (sending) {
      current = sending[1]?.trim() ?? null;
    }
    if (current && /Received Store Response \(Success\)/.test(line)) {
      acked.push(current);
      current = null;
    } else if (current && /Received Store Response/.test(line)) {
      refused.push(current);
      current = null;
    }
  }
  return { acked, refused };
}

/** Files for which storescu logged "Sending file" followed by a Success response, in order. */
export function acknowledgedFiles(storescuLog: string): string[] {
  return storescuOutcomes(storescuLog).acked;
}
