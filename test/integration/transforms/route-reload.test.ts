//! Reloading the routing rules from disk: real files, real watchers, the system clock.
import { mkdtemp, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../../src/clock.ts';
import { createEvents } from '../../../src/events.ts';
import { createLogger } from '../../../src/log.ts';
import { routeConfig, type RouteConfig } from '../../../src/transforms/route/config.ts';
import { createRuleSource, loadRuleInputs, type RuleSource } from '../../../src/transforms/route/rule-source.ts';
import { RuleFileError } from '../../../src/transforms/route/types.ts';
import { waitFor } from '../../helpers/wait-for.ts';

// Lets a test take change events away (inotify watches exhausted, a network share): only polling is left.
const noEvents = vi.hoisted(() => ({ on: false }));
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  return {
    ...real,
    watch: (...args: Parameters<typeof real.watch>) => {
      if (noEvents.on) {
        throw Object.assign(new Error('ENOSPC: simulated, no inotify watches left'), { code: 'ENOSPC' });
      }
      return real.watch(...args);
    },
  };
});

const identifying = (tag: number): boolean => tag === 0x00100010 || tag === 0x00100020;
const protocolText = (modalities: string): string =>
  `# site protocol\n0008,0060 Modality ${modalities}\n0008,1090 ManufacturersModelName Aera\n`;
const RULES =
  'version: 1\nrules:\n  - name: no-localisers\n    when: { attribute: ImageType, equals: LOCALIZER }\n    then: quarantine\n';

let dir: string;
let protocol: string;
let rules: string;
let logs: { msg: string; [k: string]: unknown }[];
let source: RuleSource | null;

function ctx(): Parameters<typeof createRuleSource>[1] {
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        logs.push(JSON.parse(line) as { msg: string });
      }
      cb();
    },
  });
  return { log: createLogger('info', sink), clock: systemClock, events: createEvents() };
}

function config(o: Partial<RouteConfig> = {}): RouteConfig {
  return routeConfig.parse({ protocolFile: protocol, rulesFile: rules, reloadDebounceMs: 100, ...o });
}

function start(cfg = config()): RuleSource {
  source = createRuleSource(cfg, ctx(), { identifying });
  source.start();
  return source;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'xnatgw-route-reload-'));
  protocol = join(dir, 'protocol.txt');
  rules = join(dir, 'rules.yaml');
  await writeFile(protocol, protocolText('CT, MR'));
  await writeFile(rules, RULES);
  logs = [];
  source = null;
  noEvents.on = false;
});

afterEach(async () => {
  await source?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('routing rules reload', () => {
  it('picks up an edit, keeps the previous rules on a broken one, and clears the error when fixed', async () => {
    const s = start();
    const first = s.status();
    expect(first).toMatchObject({
      lastError: null,
      files: [
        { path: protocol, kind: 'protocol' },
        { path: rules, kind: 'rules' },
      ],
    });

    await writeFile(protocol, protocolText('CT, MR, RTSTRUCT'));
    await waitFor(() => s.status().hash !== first.hash, 'the edited protocol to be in force', 5000);
    const second = s.status();
    expect(second.loadedAt).toBeGreaterThanOrEqual(first.loadedAt);
    expect(logs).toContainEqual(
      expect.objectContaining({ msg: 'Routing rules reloaded.', hash: second.hash, previousHash: first.hash }),
    );

    await writeFile(
      protocol,
      '# site protocol\n0008,0060 Modality CT\n0008,106 Bad\n0008,1090 ManufacturersModelName Aera\n',
    );
    await waitFor(() => s.status().lastError !== null, 'the broken protocol to be reported', 5000);
    expect(s.status().hash).toBe(second.hash);
    expect(s.current().hash).toBe(second.hash);
    expect(s.status().lastError?.problems).toEqual([expect.stringMatching(new RegExp(`^${protocol} line 3: bad tag`))]);
    expect(logs).toContainEqual(
      expect.objectContaining({ level: 50, msg: 'Routing rules not reloaded; the previous rules stay in force.' }),
    );

    await writeFile(protocol, protocolText('CT'));
    await waitFor(() => s.status().lastError === null, 'the fixed protocol to clear the error', 5000);
    expect(s.status().hash).not.toBe(second.hash);
  });

  it('follows a file replaced by rename, as editors save', async () => {
    const s = start();
    const before = s.status().hash;
    const tmp = join(dir, '.rules.yaml.swp');
    await writeFile(tmp, RULES.replace('LOCALIZER', 'SCREENSHOT'));
    await rename(tmp, rules);
    await waitFor(() => s.status().hash !== before, 'the renamed rules file to be in force', 5000);
    // A second rename-replace: the watch survives the first one.
    const after = s.status().hash;
    await writeFile(tmp, RULES.replace('LOCALIZER', 'DERIVED'));
    await rename(tmp, rules);
    await waitFor(() => s.status().hash !== after, 'the second renamed rules file to be in force', 5000);
  });

  it('keeps the previous rules when a file is deleted, and takes it back when it returns', async () => {
    const s = start();
    const before = s.status().hash;
    await unlink(protocol);
    await waitFor(() => s.status().lastError !== null, 'the deleted protocol to be reported', 5000);
    expect(s.status().lastError?.problems).toEqual([`${protocol}: cannot be read (ENOENT)`]);
    expect(s.current().hash).toBe(before);
    await writeFile(protocol, protocolText('CT, MR'));
    await waitFor(() => s.status().lastError === null, 'the restored protocol to clear the error', 5000);
    expect(s.status().hash).toBe(before);
  });

  it('refuses to start on invalid or unreadable files', async () => {
    await writeFile(
      rules,
      'version: 1\nrules:\n  - name: Bad Name\n    when: { attribute: Modality, equals: CT }\n    then: quarantine\n',
    );
    expect(() => createRuleSource(config(), ctx(), { identifying })).toThrow(RuleFileError);
    const missing = join(dir, 'missing.txt');
    expect(() => loadRuleInputs(config({ protocolFile: missing, rulesFile: null }))).toThrow(
      `${missing}: cannot be read (ENOENT)`,
    );
  });

  it('still reloads by polling when the folder cannot be watched', async () => {
    noEvents.on = true;
    const s = start();
    expect(logs).toContainEqual(
      expect.objectContaining({ level: 40, msg: 'Cannot watch a routing rules folder; polling the file instead.' }),
    );
    const before = s.status().hash;
    await writeFile(protocol, protocolText('CT, MR, PT'));
    await waitFor(() => s.status().hash !== before, 'the polled protocol to be in force', 5000);
  });

  it('stops reloading once closed', async () => {
    const s = start();
    const before = s.status().hash;
    await s.close();
    await writeFile(protocol, protocolText('CT, MR, US'));
    await new Promise((r) => setTimeout(r, 1500));
    expect(s.status().hash).toBe(before);
  });
});
