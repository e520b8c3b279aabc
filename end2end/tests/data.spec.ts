import { test, expect } from "@playwright/test";
import { ADMIN, hydrated, signIn, waitReady, watchErrors } from "./helpers";

test.beforeAll(async ({ request }) => waitReady(request));

test("market data page renders on the server and hydrates", async ({ page }) => {
  const errors = watchErrors(page);
  await signIn(page, ADMIN.user, ADMIN.pass, "/data");
  await expect(page).toHaveTitle("TraderAI");
  // Server-rendered rows from the seeded, real data set (a backfill test may
  // have added binance series).
  await expect(page.locator("#coverage tbody tr").filter({ hasNotText: "binance" }).filter({ hasNotText: "demo" })).toHaveCount(6);
  await expect(page.locator("#coverage")).toContainText("NVDA/USD");

  // Hydration: the WASM app takes over and the filter reacts to typing.
  await hydrated(page);
  await page.fill("#series-filter", "nvda");
  await expect(page.locator("#coverage tbody tr")).toHaveCount(1);
  await expect(page.locator("#coverage tbody tr").first()).toContainText("NVDA/USD");
  await page.fill("#series-filter", "1d");
  await expect(page.locator("#coverage tbody tr")).toHaveCount(5);

  // Gaps of a series, on demand.
  await page.fill("#series-filter", "15m");
  await page.locator("#coverage tbody tr", { hasText: "yahoo" }).locator(".check-gaps").click();
  await expect(page.locator("#quality-summary")).toContainText(/\d+ gaps with \d+ missing bars/);
  await expect(page.locator("#gaps-table tr.gap-row").first()).toBeVisible();
  await page.screenshot({ path: "test-results/data-page.png", fullPage: true });
  expect(errors).toEqual([]);
});
