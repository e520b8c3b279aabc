import { test, expect } from "@playwright/test";
import { ADMIN, signIn, waitReady, watchErrors } from "./helpers";

test.beforeAll(async ({ request }) => waitReady(request));

test("a backtest runs as a job and shows metrics, baselines, equity and trades", async ({ page }) => {
  const errors = watchErrors(page);
  await signIn(page, ADMIN.user, ADMIN.pass, "/simulator");
  await page.fill("#bt-symbols", "BTC/USD");
  await page.selectOption("#bt-timeframe", "1d");
  await page.selectOption("#bt-profile", "low");
  await page.fill("#bt-capital", "100");
  await page.click("#bt-run");
  const result = page.locator("#bt-result");
  await expect(result).toBeVisible();
  await expect(page.locator("#bt-metrics .card")).toHaveCount(12, { timeout: 45_000 });
  await expect(page.locator("#bt-metrics")).toContainText("TP1 hit rate");
  // One configuration tried: nothing to deflate by, so it says PSR.
  await expect(page.locator("#bt-metrics")).toContainText("PSR (1 trial)");
  await expect(page.locator("#bt-baselines tbody tr")).toHaveCount(4);
  await expect(page.locator("#bt-baselines")).toContainText("buy & hold");
  await expect(page.locator("#bt-equity path.line")).toHaveCount(2);
  await expect(page.locator("#bt-drawdown path.line")).toHaveCount(1);
  expect(await page.locator("#bt-trades tr.bt-trade").count()).toBeGreaterThan(0);
  await page.screenshot({ path: "test-results/simulator.png", fullPage: true });

  // The CSV has every trade.
  const href = await page.locator("#bt-csv").getAttribute("href");
  const csv = await page.request.get(href!);
  expect(csv.ok()).toBeTruthy();
  const text = await csv.text();
  expect(text.startsWith("symbol,side,signal_time")).toBeTruthy();
  expect(text.trim().split("\n").length).toBeGreaterThan(1);

  // A second configuration on the same series: the Sharpe is deflated over
  // both, and PBO compares them.
  await page.fill("#bt-capital", "200");
  await page.click("#bt-run");
  await expect(page.locator("#bt-metrics .card")).toHaveCount(13, { timeout: 45_000 });
  await expect(page.locator("#bt-metrics")).toContainText("Deflated Sharpe (2 trials)");
  await expect(page.locator("#bt-metrics")).toContainText("PBO (2 configurations)");

  // A bad range is refused with the field named.
  await page.fill("#bt-from", "2024-01-01");
  await page.fill("#bt-to", "2023-01-01");
  await page.click("#bt-run");
  await expect(page.locator("#bt-error")).toContainText("(to)");
  expect(errors).toEqual([]);
});
