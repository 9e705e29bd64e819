// What the portal's browser scripts share: Debian's headless Chromium
// through playwright-core with a fresh profile, the console watched for
// errors, axe-core run in the page, screenshots at desktop and phone sizes.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const AXE = join(dirname(fileURLToPath(import.meta.url)), '../node_modules/axe-core/axe.min.js');
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };
export const SIZES = [['desktop', DESKTOP], ['phone', PHONE]];

export function check(ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`);
  console.log(`ok: ${what}`);
}

/**
 * A browser with a fresh profile and its first page; `consoleErrors`
 * collects the page's errors; `close()` ends it and removes the profile.
 */
export async function launch(options = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'vidmocap-chromium-'));
  // Playwright passes the profile as --user-data-dir.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: DESKTOP,
    ...options,
  });
  const consoleErrors = [];
  const page = context.pages()[0] || await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') console.log(`browser ${m.type()}: ${m.text()}`);
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  const close = async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  };
  return { context, page, consoleErrors, close };
}

/** axe-core in the page: no serious or critical violation. */
export async function axe(page, what) {
  await page.addScriptTag({ path: AXE });
  const bad = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
  });
  check(bad.length === 0, `axe: no serious or critical violation on ${what} (${bad.join(' | ')})`);
}

/** Both sizes of the current view as `<name>-<size>.png`; `ready` waits for what it must show. */
export async function shotBoth(page, dir, name, ready = async () => {}) {
  for (const [size, vp] of SIZES) {
    await page.setViewportSize(vp);
    await ready();
    await page.waitForTimeout(200);
    await page.screenshot({ path: join(dir, `${name}-${size}.png`), fullPage: true });
  }
  await page.setViewportSize(DESKTOP);
}
