// What the browser tests share: Debian's headless Chromium (through
// playwright-core) on a fresh profile, checks that say what passed, and
// axe-core run in the page.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const AXE = join(dirname(fileURLToPath(import.meta.url)), '../node_modules/axe-core/axe.min.js');

/** Throws with `what` unless `ok`; prints it when it holds. */
export function check(ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`);
  console.log(`ok: ${what}`);
}

/** Chromium on a new profile; `close()` ends it and removes the profile. */
export async function launch(options = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'vidmocap-chromium-'));
  // Playwright passes the profile as --user-data-dir.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    ...options,
  });
  const close = async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  };
  return { context, close };
}

/** axe-core on the page: no serious or critical violation. */
export async function axe(page, what) {
  await page.addScriptTag({ path: AXE });
  const bad = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
  });
  check(bad.length === 0, `axe: no serious or critical violation on ${what} (${bad.join(' | ')})`);
}
