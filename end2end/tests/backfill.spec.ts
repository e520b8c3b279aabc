import { test, expect, type WebSocketRoute } from "@playwright/test";
import { ADMIN, MOCK_EXCHANGE, csrf, signIn, waitReady, watchErrors } from "./helpers";

test.beforeAll(async ({ request }) => waitReady(request));

test("a backfill from the mock exchange streams progress to 100 %", async ({ page }) => {
  const errors = watchErrors(page);
  await signIn(page, ADMIN.user, ADMIN.pass, "/admin/backfill");
  await expect(page.locator("#live")).toHaveAttribute("data-state", "open");
  // Record every progress label the page shows, to prove it moved live.
  await page.evaluate(() => {
    (window as any).seen = [];
    new MutationObserver(() => {
      const l = document.querySelector("#bf-job .bar-label")?.textContent;
      if (l) (window as any).seen.push(l);
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
  await page.fill("#bf-symbols", "BTC/USDT");
  await page.selectOption("#bf-timeframe", "15m");
  await page.fill("#bf-from", "2021-09-28");
  await page.fill("#bf-to", "2021-12-28");
  await page.fill("#bf-base-url", MOCK_EXCHANGE);
  await page.click("#bf-start");
  const job = page.locator("#bf-job");
  await expect(job).toBeVisible();
  await expect(job).toHaveAttribute("data-status", "succeeded", { timeout: 45_000 });
  await expect(job.locator(".bar-label")).toHaveText("100 %");
  // 91 days of 15m bars less the source's own gaps, all stored.
  await expect(page.locator("#bf-detail")).toContainText(/\b(8[0-9]{3}) candles stored/);
  const seen: string[] = await page.evaluate(() => (window as any).seen);
  expect(seen.some((l) => l !== "0 %" && l !== "100 %"), `intermediate progress in ${seen}`).toBeTruthy();
  await page.screenshot({ path: "test-results/admin-backfill.png", fullPage: true });

  // Bad input is refused with the field named, and nothing is queued.
  await page.fill("#bf-symbols", "NOT A PAIR");
  await page.click("#bf-start");
  await expect(page.locator("#bf-error")).toContainText("(field: symbols)");

  // The jobs page lists it with its numbers.
  await page.goto("/admin/jobs");
  const row = page.locator("tr.job-row").first();
  await expect(row).toHaveAttribute("data-status", "succeeded");
  await expect(row).toContainText("backfill");
  await page.screenshot({ path: "test-results/admin-jobs.png", fullPage: true });
  expect(errors).toEqual([]);
});

test("live updates resume after the WebSocket drops", async ({ page }) => {
  const sockets: WebSocketRoute[] = [];
  await page.routeWebSocket(/\/ws$/, (ws) => {
    ws.connectToServer();
    sockets.push(ws);
  });
  await signIn(page, ADMIN.user, ADMIN.pass, "/admin/jobs");
  const live = page.locator("#live");
  await expect(live).toHaveAttribute("data-state", "open");
  expect(sockets.length).toBe(1);

  await sockets[0].close({ code: 1012, reason: "test drops the connection" });
  await expect(live).toHaveAttribute("data-state", /closed|connecting/);
  await expect(live).toHaveAttribute("data-state", "open", { timeout: 15_000 });
  expect(sockets.length).toBe(2);

  // A job queued after the reconnect appears and runs to the end without a reload.
  const token = await csrf(page);
  const r = await page.request.post("/api/v1/backfills", {
    headers: { "x-csrf-token": token },
    data: {
      exchange: "binance", market: "spot", symbols: ["BTC/USDT"], timeframe: "15m",
      from: "2021-12-01", to: "2021-12-20", base_url: MOCK_EXCHANGE,
    },
  });
  expect(r.ok()).toBeTruthy();
  const id = (await r.json()).id;
  const row = page.locator(`tr.job-row[data-job="${id}"]`);
  await expect(row).toBeVisible();
  await expect(row).toHaveAttribute("data-status", "succeeded", { timeout: 30_000 });
  await expect(row.locator(".bar-label")).toHaveText("100 %");
  await page.screenshot({ path: "test-results/jobs-after-reconnect.png", fullPage: true });
});
