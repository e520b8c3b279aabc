import { test, expect } from "@playwright/test";

// The server seeds the bundled data before it listens; wait until it is ready.
test.beforeAll(async ({ request }) => {
  for (let i = 0; i < 120; i++) {
    try {
      if ((await request.get("/health/ready")).ok()) return;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error("server never became ready");
});

test("market data page renders on the server and hydrates", async ({ page }) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });

  await page.goto("/");
  await expect(page).toHaveTitle("TraderAI");
  // Server-rendered rows from the seeded, real data set.
  await expect(page.locator("#coverage tbody tr")).toHaveCount(6);
  await expect(page.locator("#coverage")).toContainText("NVDA/USD");

  // Hydration: the WASM app takes over and the filter reacts to typing.
  await expect(page.locator("main")).toHaveAttribute("data-hydrated", "true");
  await page.fill("#series-filter", "nvda");
  await expect(page.locator("#coverage tbody tr")).toHaveCount(1);
  await expect(page.locator("#coverage tbody tr").first()).toContainText("NVDA/USD");
  await page.fill("#series-filter", "1d");
  await expect(page.locator("#coverage tbody tr")).toHaveCount(5);

  await page.screenshot({ path: "test-results/data-page.png", fullPage: true });
  expect(errors).toEqual([]);
});
