//! Runtime patches to dcmjs-dimse 0.3.3 internals for the test fakes that still use the library (fake XNAT SCP).
// The gateway itself no longer uses dcmjs-dimse (ADR 0011). The npm package ships only a minified
// bundle, so we patch prototypes rather than sources; applyDimsePatches throws when the pinned
// internals change.
import dimse from 'dcmjs-dimse';

export const PINNED_VERSION = '0.3.3';

interface NetworkInternals {
  dimseStream: unknown;
  _performDimse: (this: NetworkInternals, pc: unknown, dimse: unknown) => unknown;
}

/** The shared base class of Scp and Client (dcmjs-dimse's Network). */
export const networkPrototype = Object.getPrototypeOf(dimse.Scp.prototype) as NetworkInternals & Record<string, unknown>;

const PRIVATE_METHODS = ['_performDimse', '_processPDataTf', '_processPdu', '_wrapSocket', '_reset', '_sendPDataTF', 'createStoreWritableStream', 'createDatasetFromStoreWritableStream'];

/** Lists every way the installed library differs from what our patches and subclass rely on. */
export function pinnedInternalsProblems(): string[] {
  const problems: string[] = [];
  if (dimse.version !== PINNED_VERSION) {problems.push(`dcmjs-dimse is ${dimse.version}, patches are written for ${PINNED_VERSION}`);}
  for (const m of PRIVATE_METHODS) {
    if (typeof networkPrototype[m] !== 'function') {problems.push(`Network.prototype.${m} is missing`);}
  }
  return problems;
}

let original: NetworkInternals['_performDimse'] | undefined;

/** The library's own `_performDimse`, kept so a test can prove the patch is still needed. */
export function originalPerformDimse(): NetworkInternals['_performDimse'] {
  return original ?? networkPrototype._performDimse;
}

/**
 * Applies the patches (idempotent):
 * 1. `_performDimse` resets `dimseStream`: after a command without a dataset (C-ECHO-RQ, every
 *    C-STORE-RSP on the SCU side) the library keeps appending the next command to the old buffer
 *    and re-parses the whole history each time — O(n²) per association (277 → 46 images/s).
 * 2. The library's own loglevel logger is silenced: it logs every PDU at info to the console,
 *    including dataset contents; we log through pino instead.
 * Throws when the pinned internals are not what the patches expect.
 */
export function applyDimsePatches(): void {
  const problems = pinnedInternalsProblems();
  if (problems.length) {throw new Error(`dcmjs-dimse internals changed: ${problems.join('; ')}`);}
  dimse.log.setLevel('silent');
  if (original) {return;}
  original = networkPrototype._performDimse;
  const orig = original;
  networkPrototype._performDimse = function patchedPerformDimse(this: NetworkInternals, pc: unknown, d: unknown) {
    this.dimseStream = undefined;
    return orig.call(this, pc, d);
  };
}
