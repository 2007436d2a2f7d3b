//! Runtime patches to dcmjs-dimse 0.3.3 for the test fakes that still use the library (the fake XNAT SCP).
// The gateway itself no longer uses dcmjs-dimse (ADR 0011). The npm package ships only a minified
// bundle, so we patch its prototype; applyDimsePatches throws when the pinned internals changed.
import dimse from 'dcmjs-dimse';

const PINNED_VERSION = '0.3.3';

interface NetworkInternals {
  dimseStream: unknown;
  _performDimse: (this: NetworkInternals, pc: unknown, dimse: unknown) => unknown;
}

/** The shared base class of Scp and Client (dcmjs-dimse's Network). */
const networkPrototype = Object.getPrototypeOf(dimse.Scp.prototype) as NetworkInternals & Record<string, unknown>;

let patched = false;

/**
 * Applies the patches (idempotent):
 * 1. `_performDimse` resets `dimseStream`: after a command without a dataset the library keeps
 *    appending the next command to the old buffer and re-parses the whole history each time —
 *    O(n²) per association (reference/libs.md §1.8).
 * 2. The library's own loglevel logger is silenced: it logs every PDU to the console.
 */
export function applyDimsePatches(): void {
  if (dimse.version !== PINNED_VERSION || typeof networkPrototype._performDimse !== 'function') {
    throw new Error(`dcmjs-dimse ${dimse.version} is not the ${PINNED_VERSION} these patches were written for`);
  }
  dimse.log.setLevel('silent');
  if (patched) {
    return;
  }
  patched = true;
  const orig = networkPrototype._performDimse;
  networkPrototype._performDimse = function patchedPerformDimse(this: NetworkInternals, pc: unknown, d: unknown) {
    this.dimseStream = undefined;
    return orig.call(this, pc, d);
  };
}
