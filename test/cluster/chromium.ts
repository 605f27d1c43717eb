/**
 * @module
 * Headless Chromium for page tests: Debian's `chromium` (/usr/bin/chromium) driven by
 * playwright-core, which downloads no browser of its own. `.ci/run` installs the package; a
 * machine without it fails the test with the command that fixes it (never a skip).
 *
 * The flags keep Chromium off the network it would otherwise try on start (component updates,
 * sync, Google lookups): on a machine without internet access those connections fail, many at
 * a time, and the page under test must work offline anyway.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserType } from 'playwright-core';

export const CHROMIUM = process.env['KMS_CHROMIUM'] ?? '/usr/bin/chromium';

const FLAGS = [
  '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage',
];

/** Launches Chromium, or throws one line saying what to install. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium is not installed at ${CHROMIUM}: install Debian's package (apt-get install -y chromium; .ci/run does) or point KMS_CHROMIUM at a Chromium binary`);
  }
  let chromium: BrowserType;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (e) {
    throw new Error(`playwright-core is not installed (a devDependency: run npm ci): ${(e as Error).message}`);
  }
  return chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
}

/** Where a test keeps its artifacts (screenshots): KMS_TEST_ARTIFACTS, else <tmp>/eigenx-kms-artifacts. */
export function artifactDir(): string {
  const dir = process.env['KMS_TEST_ARTIFACTS'] ?? join(tmpdir(), 'eigenx-kms-artifacts');
  mkdirSync(dir, { recursive: true });
  return dir;
}
