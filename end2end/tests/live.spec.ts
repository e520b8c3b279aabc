import { test, expect, type Page } from "@playwright/test";
import { ADMIN, hydrated, signIn, waitReady, watchErrors } from "./helpers";

/** The mock exchange the server follows (scripts/e2e.sh), replaying the bundled BTC 15m bars. */
const LIVE_MOCK = "http://127.0.0.1:3101";

test.beforeAll(async ({ request }) => waitReady(request));

/** The board's row of the followed BTC/USDT 15m series, in whichever table it is. */
function followedRow(page: Page) {
  return page.locator('tr[data-exchange="binance"][data-symbol="BTC/USDT"][data-timeframe="15m"]').first();
}

async function showRejected(page: Page) {
  const toggle = page.locator("#toggle-rejected");
  if ((await toggle.textContent())?.startsWith("Show")) await toggle.click();
}

test("signals arrive by themselves as the replayed bars close, each with its bar age", async ({ page }) => {
  const errors = watchErrors(page);
  await signIn(page, ADMIN.user, ADMIN.pass, "/");
  await showRejected(page);
  const row = followedRow(page);
  await expect(row).toBeVisible({ timeout: 45_000 });
  await expect(row).toHaveAttribute("data-data", "live", { timeout: 30_000 });
  const first = Number(await row.getAttribute("data-bar"));
  // A 15m bar closes every 7.5 s at 120×: a newer one appears with no reload.
  await expect.poll(async () => Number(await followedRow(page).getAttribute("data-bar")), { timeout: 40_000 })
    .toBeGreaterThan(first);
  const age = followedRow(page).locator(".bar-age");
  await expect(age).toContainText(/demo replay of bundled data · closed \d+ (s|min) ago/);
  // The header's dot speaks of the data, not only the socket.
  await expect(page.locator("#live")).toHaveAttribute("data-data", "demo");
  await expect(page.locator("#data-banner")).toHaveAttribute("data-state", "demo");
  // Bundled series nobody follows say so.
  await expect(page.locator('tr[data-exchange="yahoo"] .bar-age').first()).toContainText("not followed");
  expect(errors).toEqual([]);
});

test("a series the venue stops serving turns stale on the board and recovers", async ({ page, request }) => {
  const errors = watchErrors(page);
  await signIn(page, ADMIN.user, ADMIN.pass, "/");
  await showRejected(page);
  await expect(followedRow(page)).toHaveAttribute("data-data", "live", { timeout: 45_000 });
  expect((await request.post(`${LIVE_MOCK}/mock/halt?symbol=BTCUSDT`)).ok()).toBeTruthy();
  try {
    // Two missed closes (15 s at 120×) plus grace: stale, on the board and in /health/ready.
    await expect.poll(async () => {
      await page.reload();
      await showRejected(page);
      return followedRow(page).getAttribute("data-data");
    }, { timeout: 60_000, intervals: [2_000] }).toBe("stale");
    await expect(followedRow(page).locator(".bar-age")).toContainText(/stale: last bar \d+ (s|min) ago/);
    await expect(page.locator("#data-banner")).toContainText("stale");
    const ready = await (await request.get("/health/ready")).json();
    const series = ready.follow.series.find((s: { series: string }) => s.series === "binance futures BTC/USDT 15m");
    expect(series.state).toBe("stale");
    expect(series.reason).toBe("no_data");
    await page.screenshot({ path: "test-results/live-stale.png", fullPage: true });
  } finally {
    await request.post(`${LIVE_MOCK}/mock/resume?symbol=BTCUSDT`);
  }
  await expect.poll(async () => {
    await page.reload();
    await showRejected(page);
    return followedRow(page).getAttribute("data-data");
  }, { timeout: 60_000, intervals: [2_000] }).toBe("live");
  expect(errors).toEqual([]);
});

test("the board fits 1400 px and stays readable on a phone", async ({ page }) => {
  await signIn(page, ADMIN.user, ADMIN.pass, "/");
  await page.setViewportSize({ width: 1400, height: 900 });
  await page.reload();
  const table = page.locator("#signals-table");
  await expect(table.locator("tr.signal-row").first()).toBeVisible({ timeout: 45_000 });
  // Every column, WHY included, within the window: nothing cut off.
  const box = await table.boundingBox();
  expect(box!.x + box!.width).toBeLessThanOrEqual(1400);
  const why = await table.locator("th").last().boundingBox();
  expect(why!.x + why!.width).toBeLessThanOrEqual(1400);
  await page.screenshot({ path: "test-results/board-1400.png", fullPage: true });

  // A phone: one card per signal, no sideways scrolling.
  await page.setViewportSize({ width: 390, height: 844 });
  const card = table.locator("tr.signal-row").first();
  const c = await card.boundingBox();
  expect(c!.width).toBeLessThanOrEqual(390);
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  await expect(card.locator("td.why")).toBeVisible();
  await page.screenshot({ path: "test-results/board-phone.png", fullPage: true });
});

test("an admin edits the followed universe: bad entries are named, a new symbol is followed", async ({ page }) => {
  const errors = watchErrors(page);
  await signIn(page, ADMIN.user, ADMIN.pass, "/admin/system");
  await hydrated(page);
  await expect(page.locator("#follow-source")).toContainText("3 series");
  await page.fill("#fo-symbols", "BTC/USDT, nonsense");
  await page.click("#fo-save");
  await expect(page.locator("#follow-error")).toContainText('symbols[1] = "nonsense"');
  await expect(page.locator("#follow-source")).toContainText("from the config file");

  // The venue lists no ETH/USDT: it is followed, and stale with the venue's own words.
  await page.fill("#fo-symbols", "BTC/USDT, ETH/USDT");
  await page.click("#fo-save");
  await expect(page.locator("#follow-saved")).toContainText("6 series");
  const eth = page.locator("#follow-table tr.follow-row", { hasText: "ETH/USDT 15m" });
  await expect(eth).toHaveAttribute("data-state", "stale", { timeout: 30_000 });
  await expect(eth.locator(".reason")).toContainText("Invalid symbol");
  await expect(page.locator("#follow-table tr.follow-row", { hasText: "BTC/USDT 15m" })).toHaveAttribute("data-state", "live", { timeout: 30_000 });
  await page.screenshot({ path: "test-results/follow-edit.png", fullPage: true });

  // Back to one symbol: the dropped series is no longer reported.
  await page.fill("#fo-symbols", "BTC/USDT");
  await page.click("#fo-save");
  await expect(page.locator("#follow-saved")).toContainText("3 series");
  await expect(eth).toHaveCount(0, { timeout: 30_000 });
  expect(errors).toEqual([]);
});
