//! Headless Chromium (Debian's, never a downloaded one) driven by playwright-core, for console tests.
// Every request to anything but loopback is aborted and recorded, so a test fails if a page would
// reach the internet (a CDN, fonts, telemetry); console errors (CSP violations among them) and page
// errors are recorded too.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** True for hosts that stay on this machine. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || host === '::1' || /^127\./.test(host);
}

export interface TestBrowser {
  readonly context: BrowserContext;
  readonly page: Page;
  /** Requests that tried to leave the machine (aborted). */
  readonly offMachine: string[];
  /** Console errors and uncaught page errors. */
  readonly errors: string[];
  close(): Promise<void>;
}

/** A fresh Chromium with an empty profile, a 1280×900 window and the off-machine guard. */
export async function launchBrowser(): Promise<TestBrowser> {
  const profile = mkdtempSync(join(tmpdir(), 'xg-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 1280, height: 900 },
    locale: 'en-GB',
    timezoneId: 'Europe/London',
  });
  const offMachine: string[] = [];
  const errors: string[] = [];
  await context.route('**/*', async (route) => {
    const url = new URL(route.request().url());
    if (
      url.protocol === 'data:' ||
      ((url.protocol === 'http:' || url.protocol === 'https:') && isLoopbackHost(url.hostname))
    ) {
      await route.continue();
      return;
    }
    offMachine.push(url.href);
    await route.abort('blockedbyclient');
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const watch = (p: Page): void => {
    p.on('console', (m) => {
      if (m.type() === 'error') {
        errors.push(`${p.url()}: ${m.text()}`);
      }
    });
    p.on('pageerror', (e) => errors.push(`${p.url()}: ${e.message}`));
  };
  watch(page);
  context.on('page', watch);
  return {
    context,
    page,
    offMachine,
    errors,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

// The in-page code is plain JavaScript text: the project's TypeScript has no DOM library (it is a
// Node program), and these few lines are easier to read than DOM type stubs.

/** Every visible form control without a label (label element, aria-label or aria-labelledby), as a description. */
export function unlabelledControls(page: Page): Promise<string[]> {
  return page.evaluate(`(() => {
    const out = [];
    for (const el of document.querySelectorAll('input, select, textarea, button')) {
      if (el.type === 'hidden') continue;
      const labelled = (el.labels && el.labels.length) || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')
        || (el.tagName === 'BUTTON' && el.textContent.trim() !== '');
      if (!labelled) out.push(el.outerHTML.slice(0, 120));
    }
    return out;
  })()`);
}

/**
 * Tabs through the page from the top and returns the focusable elements that were never reached
 * (links, buttons, form controls, tabindex >= 0), as descriptions; empty when all are reachable.
 */
export async function unreachableByKeyboard(page: Page): Promise<string[]> {
  const count = await page.evaluate<number>(`(() => {
    const focusable = Array.from(document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea, [tabindex]'))
      .filter((el) => el.tabIndex >= 0 && !el.disabled && el.getClientRects().length > 0);
    focusable.forEach((el, i) => el.setAttribute('data-kbd', String(i)));
    if (document.activeElement) document.activeElement.blur();
    return focusable.length;
  })()`);
  const reached = new Set<string>();
  // A date-time field takes several Tab stops of its own (day, month, year, hour, minute), so the
  // walk goes on until every element was reached or a generous number of presses is used up.
  for (let i = 0; i < count * 8 + 20 && reached.size < count; i++) {
    await page.keyboard.press('Tab');
    const id = await page.evaluate<string | null>(
      `document.activeElement ? document.activeElement.getAttribute('data-kbd') : null`,
    );
    if (id !== null) {
      reached.add(id);
    }
  }
  return page.evaluate(`Array.from(document.querySelectorAll('[data-kbd]'))
    .filter((el) => !${JSON.stringify([...reached])}.includes(el.getAttribute('data-kbd')))
    .map((el) => el.outerHTML.slice(0, 120))`);
}
