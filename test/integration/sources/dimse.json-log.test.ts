// The daemon's stdout is JSON lines and nothing else, whatever a peer sends: dcmjs printed "WARN:"
// lines and stack traces for odd command sets (issue 18, point 6). The gateway no longer runs
// dcmjs on anything a peer sends (ADR 0011); this spawns the real daemon and checks every line.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { commandElement, ui, us, withGroupLength } from '../../../src/dicom/command-set.ts';
import { newUid } from '../../helpers/dicom-factory.ts';
import { describeWithPeers, freePort, run, waitForPort } from '../../helpers/peers.ts';
import { associateRq, nextResponse, pdata, rawConnect, sendStore } from '../../helpers/pdu.ts';
import { spawnDaemon } from '../../helpers/spawned-daemon.ts';

const CT = '1.2.840.10008.5.1.4.1.1.2';
const ELE = '1.2.840.10008.1.2.1';

describeWithPeers(['echoscu'], 'daemon stdout under odd DICOM input', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'xg-jsonlog-'));
  afterAll(() => {
    rmSync(scratch, { recursive: true, force: true });
  });

  it('writes only JSON lines to stdout after garbage command sets, odd elements and hostile associations', async () => {
    const [port, http] = [await freePort(), await freePort()];
    const config = join(scratch, 'gateway.yaml');
    writeFileSync(
      config,
      `dataDir: ${join(scratch, 'data')}\ndimse: { port: ${String(port)}, host: 127.0.0.1 }\nhttp: { port: ${String(http)} }\nspool: { minFreeBytes: 0 }\nlog: { level: debug }\n`,
    );
    const daemon = spawnDaemon(config);
    await waitForPort(port, '127.0.0.1', 20_000);
    const oddCommands = [
      randomBytes(40),
      withGroupLength([
        commandElement(0x0100, us(0x0030)),
        commandElement(0x0110, us(1)),
        commandElement(0x0800, us(0x0101)),
        commandElement(0x9999, Buffer.from('xyz')),
      ]),
      withGroupLength([
        commandElement(0x0002, ui(CT)),
        commandElement(0x0100, us(0x0001)),
        commandElement(0x0110, Buffer.from('abcd')),
        commandElement(0x0800, us(0)),
      ]),
      withGroupLength([
        commandElement(0x0100, us(0x0020)),
        commandElement(0x0110, us(2)),
        commandElement(0x0800, us(0)),
      ]),
      Buffer.concat([
        Buffer.from('0000000004000000', 'hex'),
        Buffer.from('ffffffff', 'hex'),
        Buffer.from('08001000', 'hex'),
        Buffer.from('ZZ'),
      ]),
    ];
    for (const cmd of oddCommands) {
      const peer = await rawConnect(port);
      peer.socket.write(associateRq({ contexts: [{ id: 1, abstractSyntax: CT, transferSyntaxes: [ELE] }] }));
      await peer.nextPdu();
      peer.socket.write(pdata(1, 0x03, cmd));
      peer.socket.write(pdata(1, 0x02, randomBytes(64)));
      await nextResponse(peer, 3000);
      peer.socket.destroy();
    }
    const peer = await rawConnect(port);
    peer.socket.write(
      associateRq({
        contexts: Array.from({ length: 300 }, (_, i) => ({
          id: (i * 2 + 1) % 256,
          abstractSyntax: CT,
          transferSyntaxes: [ELE],
        })),
      }),
    );
    await peer.nextPdu();
    for (let i = 0; i < 5; i++) {
      sendStore(peer, {
        pcId: 1,
        messageId: i + 1,
        sopClassUid: CT,
        sopInstanceUid: newUid(),
        dataset: Buffer.concat([Buffer.from('08001600', 'hex'), Buffer.from('QQ'), randomBytes(100)]),
      });
      await nextResponse(peer, 3000);
    }
    peer.socket.destroy();
    expect((await run('echoscu', ['-aec', 'XNAT', '127.0.0.1', String(port)])).code).toBe(0);
    expect(await daemon.stop()).toBe(0);
    const lines = daemon
      .output()
      .split('\n')
      .filter((l) => l.trim());
    expect(lines.length).toBeGreaterThan(10);
    // The helper already fails the test on a non-JSON stdout line; stderr is left out of this count.
    expect(daemon.lines().length).toBeGreaterThan(10);
    expect(daemon.lines().some((l) => l.msg === 'Connection dropped.')).toBe(true);
  });
});
