//! The DicomEdit functions this gateway supports; any other name fails the script at load time.
// Semantics follow DicomEdit 6's Java functions (org.nrg.dicom.dicomedit.functions), with two
// deliberate differences documented in docs/dicomedit.md: hashUID and mapReferencedUIDs use the
// host's project-keyed hash (the same mapping as the PS3.15 profile), and newUID is the host's.
import type { CallContext, Expr, FunctionSpec } from './ast.ts';
import type { Pos } from './errors.ts';
import { shiftDateTime, unitSeconds } from './dates.ts';
import { formatMessage, parseMessageFormat } from './message-format.ts';
import type { ScriptHost } from './target.ts';

function integer(call: CallContext, i: number): number {
  const text = call.text(i).trim();
  if (!/^-?\d+$/.test(text)) {
    throw new Error(`argument ${String(i + 1)} is not an integer`);
  }
  return Number(text);
}

function literal(args: readonly Expr[], i: number): { text: string; at: Pos } | undefined {
  const a = args[i];
  if (a?.kind === 'string') {
    return { text: a.value, at: a.at };
  }
  return a?.kind === 'number' ? { text: a.text, at: a.at } : undefined;
}

/** Every value of a multi-valued DA/DT shifted; DicomEdit would fail on more than one value. */
function shiftFunction(defaultUnits: string): FunctionSpec {
  return {
    minArgs: 2,
    maxArgs: 3,
    returns: 'string',
    check: (args) => {
      const increment = literal(args, 1);
      if (increment && !/^-?\d+$/.test(increment.text)) {
        return { message: `the increment must be an integer, not ${increment.text}`, at: increment.at };
      }
      const units = literal(args, 2);
      return units && unitSeconds(units.text) === undefined
        ? { message: `unknown units "${units.text}": use years, days, hours, minutes or seconds`, at: units.at }
        : undefined;
    },
    apply: (call) => {
      const perUnit = unitSeconds(call.argCount > 2 ? call.text(2) : defaultUnits);
      if (perUnit === undefined) {
        throw new Error('unknown units: use years, days, hours, minutes or seconds');
      }
      const seconds = integer(call, 1) * perUnit;
      return call
        .text(0)
        .split('\\')
        .map((v) => {
          const value = v.trim();
          // An empty value names no date: there is nothing to shift (DicomEdit would fail here).
          const shifted = value === '' ? '' : shiftDateTime(value, seconds);
          if (shifted === undefined) {
            throw new Error('argument 1 is not a DICOM date or date-time');
          }
          return shifted;
        })
        .join('\\');
    },
  };
}

function mapUids(host: ScriptHost, value: string): string {
  return value
    .split('\\')
    .map((uid) => (uid.trim() === '' ? uid : host.hashUid(uid.trim())))
    .join('\\');
}

const oneString = (f: (s: string) => string): FunctionSpec => ({
  minArgs: 1,
  maxArgs: 1,
  returns: 'string',
  apply: (call) => f(call.text(0)),
});

/** Name → implementation. Names are case-sensitive, as in DicomEdit. */
export const FUNCTIONS: ReadonlyMap<string, FunctionSpec> = new Map<string, FunctionSpec>([
  // DicomEdit: 2.25.<version-5 UUID of the value>. Here: the host's keyed hash (see file header).
  // A second argument (DicomEdit's optional algorithm name) is accepted and ignored, as there.
  ['hashUID', { minArgs: 1, maxArgs: 2, returns: 'string', apply: (call) => call.host.hashUid(call.text(0)) }],
  ['newUID', { minArgs: 0, maxArgs: 0, returns: 'string', apply: (call) => call.host.newUid() }],
  ['shiftDateByIncrement', shiftFunction('days')],
  ['shiftDateTimeByIncrement', shiftFunction('seconds')],
  [
    'concatenate',
    {
      minArgs: 1,
      maxArgs: Infinity,
      returns: 'string',
      apply: (call) => Array.from({ length: call.argCount }, (_, i) => call.text(i)).join(''),
    },
  ],
  [
    'format',
    {
      minArgs: 1,
      maxArgs: Infinity,
      returns: 'string',
      check: (args) => {
        const pattern = literal(args, 0);
        if (!pattern) {
          return undefined;
        }
        try {
          parseMessageFormat(pattern.text);
          return undefined;
        } catch (err) {
          return { message: (err as Error).message, at: pattern.at };
        }
      },
      apply: (call) =>
        formatMessage(
          call.text(0),
          Array.from({ length: call.argCount - 1 }, (_, i) => call.text(i + 1)),
        ),
    },
  ],
  ['lowercase', oneString((s) => s.toLowerCase())],
  ['uppercase', oneString((s) => s.toUpperCase())],
  [
    'replace',
    {
      minArgs: 3,
      maxArgs: 3,
      returns: 'string',
      // Java's String.replace(target, replacement): literal, every occurrence; a function keeps
      // JavaScript from reading `$&` and friends in the replacement.
      apply: (call) => {
        const [s, target, replacement] = [call.text(0), call.text(1), call.text(2)];
        return s.replaceAll(target, () => replacement);
      },
    },
  ],
  [
    'substring',
    {
      minArgs: 3,
      maxArgs: 3,
      returns: 'string',
      apply: (call) => {
        const s = call.text(0);
        const [begin, end] = [integer(call, 1), integer(call, 2)];
        // Java's String.substring throws rather than clamping; so do we.
        if (begin < 0 || end > s.length || begin > end) {
          throw new Error('the begin and end indexes are out of range for this value');
        }
        return s.slice(begin, end);
      },
    },
  ],
  [
    // mapReferencedUIDs[uidRoot, "path", …]: DicomEdit maps each matching UID to a new random UID
    // under uidRoot, consistently within one run. Here every UID goes through the host's keyed
    // hash instead (uidRoot is ignored), so references stay consistent with the profile's UIDs.
    'mapReferencedUIDs',
    {
      minArgs: 2,
      maxArgs: Infinity,
      returns: 'void',
      params: ['value', 'pathText'],
      apply: (call) => {
        const paths = Array.from({ length: call.argCount - 1 }, (_, i) => call.path(i + 1));
        call.rewrite(paths, (value) => mapUids(call.host, value));
        return undefined;
      },
    },
  ],
  // DicomEdit's presence test, as in `if (isPresent[(gggg,eeee)]) { … }`.
  [
    'isPresent',
    { minArgs: 1, maxArgs: 1, returns: 'boolean', params: ['path'], apply: (call) => call.exists(call.path(0)) },
  ],
]);

// Functions DicomEdit 6 has and this gateway does not: named in the load error, so an admin knows
// the script is valid DicomEdit but needs another way here.
const DICOMEDIT_ONLY = new Set([
  'alterPixels',
  'blankValues',
  'collectValues',
  'delete',
  'false',
  'getURL',
  'hashUIDList',
  'ismatch',
  'lookup',
  'mapUID',
  'match',
  'normalizeString',
  'reject',
  'removeTags',
  'retainPrivateTags',
  'scalePatientAgeAndDobFromStudyDate',
  'set',
  'shiftDateTimeListByIncrement',
  'shiftDateTimeSequenceByIncrement',
  'true',
]);

/** The load error for a name that is not in FUNCTIONS. */
export function unsupportedFunction(name: string): string {
  return DICOMEDIT_ONLY.has(name)
    ? `the DicomEdit function ${name}[] is not supported by this gateway`
    : `unknown function ${name}[]`;
}
