//! Which cell styles of an XLSX workbook are dates (by number format), so a date cell reads as YYYYMMDD rather than a serial.
import { parseXml } from './xml.ts';

/** Built-in number formats that are dates (ECMA-376 §18.8.30). */
const BUILTIN_DATE_FORMATS = new Set([14, 15, 16, 17, 18, 19, 20, 21, 22, 45, 46, 47]);

function isDateFormat(code: string): boolean {
  // Strip quoted text, escapes and [colour]/[condition] sections; a date format still has d, m or y.
  const bare = code
    .replace(/"[^"]*"/g, '')
    .replace(/\\./g, '')
    .replace(/\[[^\]]*\]/g, '');
  return /[dy]/i.test(bare) || /m/i.test(bare.replace(/[hs]+[:.]?m+|m+[:.]?s+/gi, ''));
}

/** The cellXfs indexes (a cell's `s`) whose number format is a date. */
export function readDateStyles(xml: string | undefined): Set<number> {
  const dates = new Set<number>();
  if (xml === undefined) {
    return dates;
  }
  const custom = new Map<number, string>();
  const xfFormats: number[] = [];
  let inCellXfs = false;
  parseXml(xml, {
    open(name, a) {
      if (name === 'numFmt') {
        custom.set(Number(a.get('numFmtId')), a.get('formatCode') ?? '');
      } else if (name === 'cellXfs') {
        inCellXfs = true;
      } else if (name === 'xf' && inCellXfs) {
        xfFormats.push(Number(a.get('numFmtId') ?? 0));
      }
    },
    close(name) {
      if (name === 'cellXfs') {
        inCellXfs = false;
      }
    },
    text: () => undefined,
  });
  xfFormats.forEach((fmt, i) => {
    const code = custom.get(fmt);
    if (code !== undefined ? isDateFormat(code) : BUILTIN_DATE_FORMATS.has(fmt)) {
      dates.add(i);
    }
  });
  return dates;
}
