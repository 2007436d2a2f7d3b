// STOW-RS over HTTPS (stow.tlsCertFile + tlsKeyFile): curl checks the certificate, stores, and a
// plain-HTTP client gets nothing; a bad key file is a config error naming the key.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { buildConfig, ConfigError } from '../../../../src/config/load.ts';
import { startTestDaemon, type TestDaemon } from '../../../helpers/daemon.ts';
import { writeInstance } from '../../../helpers/dicom-factory.ts';
import { describeWithPeers, run } from '../../../helpers/peers.ts';
import { curl, curlStow, items, TOKEN } from './helpers.ts';

describeWithPeers(['openssl', 'curl'], 'STOW-RS over HTTPS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xg-stow-tls-'));
  let t: TestDaemon | undefined;
  afterAll(async () => {
    await t?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves HTTPS with the configured certificate; plain HTTP gets no answer', async () => {
    const [cert, key, tokens] = [join(dir, 'cert.pem'), join(dir, 'key.pem'), join(dir, 'tokens')];
    const made = await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ]);
    expect(made.code, made.stderr).toBe(0);
    chmodSync(key, 0o644);
    writeFileSync(tokens, `pacs:${TOKEN}\n`, { mode: 0o600 });
    const stow = { port: 0, host: '127.0.0.1', tokenFile: tokens, tlsCertFile: cert, tlsKeyFile: key };
    let problems: readonly string[] = [];
    try {
      buildConfig({ stow }, {}, dir);
    } catch (err) {
      problems = err instanceof ConfigError ? err.problems : [];
    }
    expect(problems).toEqual([expect.stringMatching(/^stow\.tlsKeyFile: .* is readable by others \(mode 644\)/)]);
    chmodSync(key, 0o600);
    t = await startTestDaemon({ dimse: { enabled: false }, folder: { enabled: false }, stow });
    const port = t.daemon.ports().stow ?? 0;
    const file = join(dir, 'one.dcm');
    const info = await writeInstance(file);
    const r = await curl(dir, [
      '--cacert',
      cert,
      ...curlStow(`https://127.0.0.1:${String(port)}/dicom-web/studies`, [file]),
    ]);
    expect(r.status, r.text).toBe(200);
    expect(items(r.body, '00081199').map((i) => i['00081155']?.Value?.[0])).toEqual([info.sopInstanceUid]);
    await expect(
      curl(dir, ['--max-time', '5', ...curlStow(`http://127.0.0.1:${String(port)}/dicom-web/studies`, [file])]),
    ).rejects.toThrow(/curl failed/);
  }, 60_000);
});
