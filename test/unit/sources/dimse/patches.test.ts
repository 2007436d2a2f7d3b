// Pins the dcmjs-dimse internals our patches rely on, and proves each patch is still needed.
import { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import dimse from 'dcmjs-dimse';
import { applyDimsePatches, networkPrototype, originalPerformDimse, pinnedInternalsProblems, PINNED_VERSION } from '../../../../src/sources/dimse/patches.ts';
import { associateRq, echoRq } from '../../../helpers/pdu.ts';

const { Scp } = dimse;
const { CEchoResponse } = dimse.responses;

/** A bare library Scp on an unconnected socket: we feed it PDUs and record what it keeps. */
function feedEchoes(count: number): Promise<unknown[]> {
  const seen: unknown[] = [];
  class ProbeScp extends Scp {
    override associationRequested(a: Parameters<InstanceType<typeof Scp>['associationRequested']>[0]): void {
      for (const { id } of a.getPresentationContexts()) {a.getPresentationContext(id).setResult(0, '1.2.840.10008.1.2');}
      this.sendAssociationAccept();
    }
    override cEchoRequest(rq: Parameters<InstanceType<typeof Scp>['cEchoRequest']>[0], cb: Parameters<InstanceType<typeof Scp>['cEchoRequest']>[1]): void {
      seen.push((this as unknown as { dimseStream: unknown }).dimseStream);
      cb(CEchoResponse.fromRequest(rq));
    }
  }
  const socket = new Socket();
  socket.write = (() => true);
  new ProbeScp(socket);
  return (async () => {
    socket.emit('data', associateRq());
    for (let i = 1; i <= count; i++) {
      await new Promise((r) => setImmediate(r));
      socket.emit('data', echoRq(i));
    }
    await new Promise((r) => setImmediate(r));
    socket.emit('close');
    return seen;
  })();
}

describe('dcmjs-dimse pinned internals', () => {
  afterEach(() => { applyDimsePatches(); });

  it('is the exact version the patches were written for', () => {
    expect(dimse.version).toBe(PINNED_VERSION);
    expect(pinnedInternalsProblems()).toEqual([]);
  });

  it('still needs the command-buffer patch: unpatched, each C-ECHO re-parses every earlier command', async () => {
    applyDimsePatches();
    const patched = networkPrototype._performDimse;
    networkPrototype._performDimse = originalPerformDimse();
    try {
      const seen = await feedEchoes(5);
      expect(seen).toHaveLength(5);
      // The library keeps the command stream alive after a dataset-less command.
      expect(seen.every((s) => s !== undefined)).toBe(true);
    } finally {
      networkPrototype._performDimse = patched;
    }
  });

  it('resets the command buffer after every dataset-less command once patched', async () => {
    applyDimsePatches();
    const seen = await feedEchoes(50);
    expect(seen).toHaveLength(50);
    expect(seen.every((s) => s === undefined)).toBe(true);
  });

  it('leaves exactly one socket data listener for the PDU guard to wrap', () => {
    const socket = new Socket();
    new Scp(socket);
    expect(socket.listeners('data')).toHaveLength(1);
    socket.emit('close');
  });
});
