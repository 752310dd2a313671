import { existsSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";

/** Debian's chromium (apt), or CHROMIUM_BIN; playwright's own browsers are never downloaded. */
export function chromiumPath(): string | undefined {
  const candidates = [process.env.CHROMIUM_BIN, "/usr/bin/chromium", "/usr/bin/chromium-browser"];
  return candidates.find((p): p is string => p !== undefined && p !== "" && existsSync(p));
}

/** Headless Debian Chromium with the flags it needs here (no sandbox, no GPU, no calls out: without them its background calls are refused many at a time). */
export async function launchChromium(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (!executablePath) throw new Error("no chromium: install Debian's chromium (apt-get install chromium) or set CHROMIUM_BIN");
  return chromium.launch({
    executablePath,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
  });
}

/** A page whose uncaught errors and console errors are recorded. */
export interface WatchedPage {
  page: Page;
  /** Uncaught exceptions and unhandled rejections in the page. */
  errors: string[];
  /** Console messages of type error. */
  consoleErrors: string[];
}

/** Opens `url` in a new context (its own storage) of `browser`; `before` runs on the page first (routes to set up, say). */
export async function openPage(browser: Browser, url: string, before?: (page: Page) => Promise<void>): Promise<WatchedPage> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await before?.(page);
  const watched: WatchedPage = { page, errors: [], consoleErrors: [] };
  page.on("pageerror", (e) => watched.errors.push(String(e)));
  page.on("console", (m) => {
    if (m.type() === "error") watched.consoleErrors.push(m.text());
  });
  await page.goto(url);
  return watched;
}
