import { test, expect } from "@playwright/test";
import { ADMIN, csrf, hydrated, signIn, waitReady, watchErrors } from "./helpers";

test.beforeAll(async ({ request }) => waitReady(request));

/** Parses "$1234" / "$12.34" as shown in the size column. */
const dollars = (s: string | null) => Number((s ?? "").replace(/[^0-9.]/g, ""));

test("a user picks a profile and capital and sees signals sized for them", async ({ page, browser }) => {
  const errors = watchErrors(page);
  await signIn(page, ADMIN.user, ADMIN.pass, "/");
  // The workers scan at start; "Scan now" makes sure and says what it did.
  await page.click("#scan-now");
  await expect(page.locator("#scan-result")).toContainText("series scanned");
  await expect(page.locator("#signals-summary")).toContainText("Sized for the");
  const rows = page.locator("#signals-table tr.signal-row");
  await expect(rows.first()).toBeVisible();
  await page.screenshot({ path: "test-results/signals-admin.png", fullPage: true });

  // A new user, created by the admin over the API.
  const name = `sig${Date.now() % 100000}`;
  const created = await page.request.post("/api/v1/users", {
    headers: { "x-csrf-token": await csrf(page) },
    data: { username: name, password: "signal-pass-1", role: "user" },
  });
  expect(created.ok()).toBeTruthy();
  expect(errors).toEqual([]);

  const ctx = await browser.newContext();
  const user = await ctx.newPage();
  const userErrors = watchErrors(user);
  await signIn(user, name, "signal-pass-1", "/");
  await expect(user.locator("#live")).toHaveAttribute("data-state", "open");
  await expect(user.locator("#scan-now")).toHaveCount(0);
  const first = user.locator("#signals-table tr.signal-row").first();
  await expect(first).toBeVisible();
  const symbol = await first.getAttribute("data-symbol");
  const row = user.locator(`#signals-table tr.signal-row[data-symbol="${symbol}"]`).first();

  // Low profile, $100: leverage at most 5×, margin within the capital.
  await user.selectOption("#dash-profile", "low");
  await user.fill("#dash-capital", "100");
  await user.click("#dash-apply");
  await expect(user.locator("#signals-summary")).toContainText("low profile");
  await expect(user.locator("#signals-summary")).toContainText("$100 capital");
  const lev = Number((await row.locator(".leverage").textContent())!.replace("×", ""));
  expect(lev).toBeLessThanOrEqual(5);
  const small = dollars(await row.locator(".size").evaluate((e) => e.firstChild?.textContent ?? ""));
  expect(dollars(await row.locator(".margin").textContent())).toBeLessThanOrEqual(100);

  // High profile, $10,000: the same signal, a bigger position.
  await user.selectOption("#dash-profile", "high");
  await user.fill("#dash-capital", "10000");
  await user.click("#dash-apply");
  await expect(user.locator("#signals-summary")).toContainText("high profile");
  await expect(user.locator("#signals-summary")).toContainText("$10000 capital");
  const big = dollars(await row.locator(".size").evaluate((e) => e.firstChild?.textContent ?? ""));
  expect(big).toBeGreaterThan(small * 10);
  // Saved: a reload keeps them.
  await user.reload();
  await hydrated(user);
  await expect(user.locator("#dash-profile")).toHaveValue("high");
  await expect(user.locator("#dash-capital")).toHaveValue("10000");

  // Rejected candidates, each with its reason.
  await user.click("#toggle-rejected");
  const rejected = user.locator("#rejected-table tr.rejected-row");
  if ((await rejected.count()) > 0) {
    await expect(rejected.first().locator(".reason")).not.toBeEmpty();
  }

  // The chart behind a signal: candles, its levels, its marker.
  await row.click();
  const chart = user.locator("#signal-chart svg.candles");
  await expect(chart).toBeVisible();
  await expect(chart).toHaveAttribute("data-bars", "150");
  await expect(user.locator("#signal-chart .level-tp")).toHaveCount(3);
  await expect(user.locator("#signal-chart .level-sl")).toHaveCount(1);
  await expect(user.locator("#signal-chart .marker")).not.toHaveCount(0);
  await user.screenshot({ path: "test-results/signals-user.png", fullPage: true });
  expect(userErrors).toEqual([]);
  await ctx.close();
});
