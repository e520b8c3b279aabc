import { expect, type Page, type APIRequestContext } from "@playwright/test";

export const ADMIN = {
  user: process.env.ADMIN_USER ?? "admin",
  pass: process.env.ADMIN_PASS ?? "e2e-admin-pass",
};
/** The local Binance stand-in started by playwright.config.ts. */
export const MOCK_EXCHANGE = "http://127.0.0.1:3100";

/** The server seeds the bundled data before it listens; wait until it is ready. */
export async function waitReady(request: APIRequestContext) {
  for (let i = 0; i < 120; i++) {
    try {
      if ((await request.get("/health/ready")).ok()) return;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error("server never became ready");
}

/** Collects page errors and console errors; assert it stays empty. */
export function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => {
    // Refusals the tests provoke (403, 422 …) are logged by Chromium as failed
    // resources; a 5xx still counts as an error.
    if (m.type() === "error" && !/status of 4\d\d/.test(m.text())) errors.push(m.text());
  });
  return errors;
}

export async function hydrated(page: Page) {
  await expect(page.locator("main")).toHaveAttribute("data-hydrated", "true");
}

/** Signs in through the real form and lands on `next`. */
export async function signIn(page: Page, user: string, pass: string, next = "/") {
  await page.goto(`/login?next=${encodeURIComponent(next)}`);
  await page.fill("#username", user);
  await page.fill("#password", pass);
  await page.click("#sign-in");
  await expect(page).toHaveURL(new RegExp(`${next.replace(/[/?]/g, "\\$&")}$`));
  await hydrated(page);
}

/** The session's CSRF token, for API calls made with the page's cookies. */
export async function csrf(page: Page): Promise<string> {
  const me = await page.request.get("/api/v1/me");
  expect(me.ok()).toBeTruthy();
  return (await me.json()).csrf;
}
