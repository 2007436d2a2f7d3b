//! Injected faults: HTTP (status, slow, dropped connection) and DICOM (status, abort), each firing `times` times.
import { STATUS_CODES } from 'node:http';
import type { DicomFault, HttpFault } from './types.ts';

interface Armed<F> {
  readonly fault: F;
  left: number;
  seen: number;
}

/** An nginx-style error page, as a reverse proxy in front of XNAT answers 502/504. */
export function nginxErrorPage(status: number): string {
  const title = `${String(status)} ${STATUS_CODES[status] ?? 'Error'}`;
  return `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n<hr><center>nginx/1.29.0</center>\r\n</body>\r\n</html>\r\n`;
}

export interface FaultQueue {
  inject(f: HttpFault): void;
  injectDicom(f: DicomFault): void;
  /** The first armed HTTP fault matching the request, consumed once. */
  takeHttp(method: string, path: string): HttpFault | null;
  /** Counts one C-STORE and returns the DICOM fault that applies to it, consumed once. */
  takeDicom(): DicomFault | null;
}

export function createFaultQueue(): FaultQueue {
  const http: Armed<HttpFault>[] = [];
  const dicom: Armed<DicomFault>[] = [];
  return {
    inject(f) {
      http.push({ fault: f, left: f.times ?? 1, seen: 0 });
    },
    injectDicom(f) {
      dicom.push({ fault: f, left: f.times ?? 1, seen: 0 });
    },
    takeHttp(method, path) {
      const hit = http.find(
        (a) =>
          a.left > 0 &&
          (a.fault.method === undefined || a.fault.method.toUpperCase() === method) &&
          (a.fault.path === undefined || a.fault.path.test(path)),
      );
      if (!hit) {
        return null;
      }
      hit.left--;
      return hit.fault;
    },
    takeDicom() {
      let chosen: DicomFault | null = null;
      for (const a of dicom) {
        a.seen++;
        if (chosen === null && a.left > 0 && a.seen > (a.fault.afterInstances ?? 0)) {
          a.left--;
          chosen = a.fault;
        }
      }
      return chosen;
    },
  };
}

/** The body and content type a status fault answers with. */
export function faultResponse(f: HttpFault & { status: number }): { body: string; contentType: string } {
  const body =
    f.body ??
    ([502, 503, 504].includes(f.status)
      ? nginxErrorPage(f.status)
      : `${String(f.status)} ${STATUS_CODES[f.status] ?? ''}`);
  return { body, contentType: f.contentType ?? 'text/html' };
}
