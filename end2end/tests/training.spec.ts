import { test, expect } from "@playwright/test";
import { ADMIN, hydrated, signIn, waitReady, watchErrors } from "./helpers";

test.beforeAll(async ({ request }) => waitReady(request));

test("a small training run streams its epochs and lands in the registry", async ({ page }) => {
  test.setTimeout(240_000);
  const errors = watchErrors(page);
  await signIn(page, ADMIN.user, ADMIN.pass, "/admin/training");
  await expect(page.locator("#live")).toHaveAttribute("data-state", "open");
  await page.fill("#train-symbols", "BTC/USD");
  await page.selectOption("#train-timeframe", "1d");
  await page.fill("#train-epochs", "8");
  await page.fill("#train-folds", "0");
  await page.selectOption("#train-promote", "always");
  // Record every epoch count the page shows, to prove the epochs streamed in.
  await page.evaluate(() => {
    (window as any).epochs = [];
    new MutationObserver(() => {
      const n = document.querySelector("#epoch-line")?.getAttribute("data-epochs");
      if (n && !(window as any).epochs.includes(n)) (window as any).epochs.push(n);
    }).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
  });
  await page.click("#train-start");
  const curves = page.locator("#train-curves");
  await expect(curves).toBeVisible();
  // Epochs arrive one by one over the WebSocket and redraw the curves.
  await expect(page.locator("#epoch-line")).toContainText(/epoch [1-8]\/8/, { timeout: 150_000 });
  await expect(page.locator("#loss-chart path.line")).toHaveCount(2);
  await expect(page.locator("#epoch-line")).toHaveAttribute("data-epochs", "8", { timeout: 150_000 });
  await page.screenshot({ path: "test-results/admin-training.png", fullPage: true });
  await expect(page.locator("#train-result")).toContainText("promoted on request", { timeout: 150_000 });
  const seen: string[] = await page.evaluate(() => (window as any).epochs);
  expect(seen.length, `epoch counts seen: ${seen}`).toBeGreaterThan(2);
  const run = page.locator("tr.train-run").first();
  await expect(run).toHaveAttribute("data-status", "succeeded", { timeout: 150_000 });

  // The registry has it, serving.
  await page.goto("/admin/models");
  const model = page.locator("#models-table tr.model-row").first();
  await expect(model).toHaveAttribute("data-status", "active");
  await expect(page.locator("#model-events")).toContainText("promoted");
  const zip = await page.request.get(await model.locator("a[download]").getAttribute("href") ?? "");
  expect(zip.ok()).toBeTruthy();
  expect(zip.headers()["content-type"]).toBe("application/zip");
  expect(zip.headers()["x-model-sha256"]).toMatch(/^[0-9a-f]{64}$/);
  await page.screenshot({ path: "test-results/admin-models.png", fullPage: true });

  // Bad input names the field.
  await page.goto("/admin/training");
  // Typed before hydration, the value would be lost to the WASM render (seen under load).
  await hydrated(page);
  await page.fill("#train-symbols", "NOT A PAIR");
  await page.click("#train-start");
  await expect(page.locator("#train-error")).toContainText("(symbols)");
  // A refused start keeps what was typed (the runs list is not reloaded
  // under the form), so the user corrects it in place.
  await expect(page.locator("#train-symbols")).toHaveValue("NOT A PAIR");
  await page.fill("#train-symbols", "BTC/USD");
  await page.fill("#train-barrier", "2");
  await page.click("#train-start");
  await expect(page.locator("#train-error")).toContainText("(barrier)");
  await expect(page.locator("#train-barrier")).toHaveValue("2");
  await expect(page.locator("#train-symbols")).toHaveValue("BTC/USD");
  expect(errors).toEqual([]);
});
