// Launches Debian's Chromium (/usr/bin/chromium) headless through playwright-core,
// never a downloaded browser, and records what pages and their workers report as
// errors so a test can assert there were none.
//
// Flags: root needs --no-sandbox; the background-networking flags stop Chromium
// from calling Google's services, which this machine's closed network refuses
// (many connection errors at every start otherwise). Playwright gives every
// launch a fresh temporary profile and deletes it on close (passing
// --user-data-dir in args is refused: that is launchPersistentContext's job).

import { accessSync, constants } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type ConsoleMessage, type Page } from 'playwright-core';

/** Debian's Chromium; CHROMIUM_PATH overrides it (still a local binary, never a download). */
export const CHROMIUM_PATH = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS: readonly string[] = Object.freeze([
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-default-apps',
  '--disable-extensions',
  '--disable-dev-shm-usage',
]);

export interface BrowserIssue {
  /** console: console.error in the page or a worker; pageerror: an uncaught exception; crash: the page crashed. */
  readonly kind: 'console' | 'pageerror' | 'crash';
  readonly text: string;
  /** Where it came from: the script URL and line, or the worker's URL. */
  readonly where?: string;
}

export interface WatchedPage {
  readonly page: Page;
  /** Console errors (page and its workers), uncaught page exceptions and crashes, as they happen. */
  readonly errors: BrowserIssue[];
  /** Every console message (any level), for diagnostics: "[type] text". */
  readonly messages: string[];
  /** A readable summary of `errors`, for assertion messages. */
  describeErrors(): string;
}

export interface ChromiumSession {
  readonly browser: Browser;
  readonly context: BrowserContext;
  /** A new page in the session's context, watched for errors from the start. */
  newPage(): Promise<WatchedPage>;
  close(): Promise<void>;
}

export interface LaunchOptions {
  /** Extra Chromium flags, after CHROMIUM_ARGS. */
  readonly args?: readonly string[];
  /** Launch timeout (default 30 s). */
  readonly timeoutMs?: number;
}

/** Throws (it is a failure, not a skip: CI installs Chromium) when the binary is missing. */
export function assertChromiumInstalled(): void {
  try {
    accessSync(CHROMIUM_PATH, constants.X_OK);
  } catch {
    throw new Error(
      `Chromium not found at ${CHROMIUM_PATH}: browser tests need Debian's chromium ` +
        '(`apt-get install -y --no-install-recommends chromium`, which `bash .ci/run` does). ' +
        'Do not run `npx playwright install`: it downloads a browser, which fails here.',
    );
  }
}

function watch(page: Page): WatchedPage {
  const errors: BrowserIssue[] = [];
  const messages: string[] = [];
  // Console messages of dedicated workers also arrive here (msg.worker() is set).
  page.on('console', (msg: ConsoleMessage) => {
    messages.push(`[${msg.type()}] ${msg.text()}`);
    if (msg.type() !== 'error') return;
    const loc = msg.location();
    const worker = msg.worker();
    const where = worker ? `worker ${worker.url()}` : loc.url ? `${loc.url}:${loc.lineNumber + 1}` : undefined;
    errors.push(where === undefined ? { kind: 'console', text: msg.text() } : { kind: 'console', text: msg.text(), where });
  });
  page.on('pageerror', (err: Error) => errors.push({ kind: 'pageerror', text: err.stack ?? err.message }));
  page.on('crash', () => errors.push({ kind: 'crash', text: 'the page crashed' }));
  return {
    page,
    errors,
    messages,
    describeErrors: () => errors.map((e) => `${e.kind}: ${e.text}${e.where ? ` (${e.where})` : ''}`).join('\n') || '(none)',
  };
}

export async function launchChromium(options: LaunchOptions = {}): Promise<ChromiumSession> {
  assertChromiumInstalled();
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [...CHROMIUM_ARGS, ...(options.args ?? [])],
    timeout: options.timeoutMs ?? 30_000,
  });
  let context: BrowserContext;
  try {
    context = await browser.newContext();
  } catch (err) {
    await browser.close();
    throw err;
  }
  return {
    browser,
    context,
    newPage: async () => watch(await context.newPage()),
    close: async () => {
      await context.close().catch(() => undefined);
      await browser.close();
    },
  };
}
