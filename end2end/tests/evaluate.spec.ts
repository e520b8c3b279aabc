import { test, expect } from "@playwright/test";
import { ADMIN, hydrated, signIn, waitReady, watchErrors } from "./helpers";

test.beforeAll(async ({ request }) => waitReady(request));

test("an evaluation runs as a job and shows the held-out answer with its baselines", async ({ page }) => {
  test.setTimeout(240_000);
  const errors = watchErrors(page);
  await signIn(page, ADMIN.user, ADMIN.pass, "/admin/evaluate");
  await expect(page.locator("#live")).toHaveAttribute("data-state", "open");
  await hydrated(page);

  // Bad input names the field and queues nothing.
  await page.fill("#eval-symbols", "BTC/USD");
  await page.fill("#eval-folds", "0");
  await page.locator("#eval-folds").evaluate((e: HTMLInputElement) => e.removeAttribute("min"));
  await page.click("#eval-start");
  await expect(page.locator("#eval-error")).toContainText("(folds)");
  await page.fill("#eval-folds", "2");
  await page.fill("#eval-barrier", "2");
  await page.click("#eval-start");
  await expect(page.locator("#eval-error")).toContainText("(barrier)");

  await page.fill("#eval-symbols", "BTC/USD");
  await page.selectOption("#eval-timeframe", "1d");
  await page.fill("#eval-epochs", "2");
  await page.fill("#eval-folds", "2");
  await page.selectOption("#eval-backend", "flex");
  // Triple-barrier labels, typed with a space.
  await page.fill("#eval-barrier", "2, 1");
  await page.click("#eval-start");
  const answer = page.locator("#eval-answer");
  await expect(answer).toBeVisible();
  const result = page.locator("#eval-result");
  await expect(result).toBeVisible({ timeout: 180_000 });

  // The three strategies, then buy-and-hold, on the held-out bars only.
  const names = await page.locator("#eval-result tr.eval-strategy").evaluateAll((rows) =>
    rows.map((r) => r.getAttribute("data-name")),
  );
  for (const n of ["model", "hybrid", "technical", "buy & hold"]) expect(names).toContain(n);
  await expect(page.locator("#eval-head")).toContainText("held-out bars");
  await expect(page.locator("#eval-head")).toContainText("trials counted");
  await expect(page.locator("#eval-head")).toContainText("triple-barrier labels (+2 / −1 ATR");
  // Said in words, per strategy; PBO or why there is none.
  expect(await page.locator("#eval-verdict li").count()).toBeGreaterThanOrEqual(3);
  await expect(page.locator("#eval-pbo")).toContainText("PBO");
  await expect(page.locator("#eval-hashes")).toHaveText(/data [0-9a-f]{12} · predictions [0-9a-f]{12}/);
  const run = page.locator("tr.eval-run").first();
  await expect(run).toHaveAttribute("data-status", "succeeded");
  await page.screenshot({ path: "test-results/admin-evaluate.png", fullPage: true });
  expect(errors).toEqual([]);
});
