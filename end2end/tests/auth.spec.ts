import { test, expect } from "@playwright/test";
import { ADMIN, hydrated, signIn, waitReady, watchErrors } from "./helpers";

test.beforeAll(async ({ request }) => waitReady(request));

test("anonymous visitors are sent to sign in; wrong passwords are refused", async ({ page }) => {
  await page.goto("/admin/jobs");
  await expect(page).toHaveURL(/\/login\?next=%2Fadmin%2Fjobs$/);
  await page.fill("#username", ADMIN.user);
  await page.fill("#password", "not-the-password");
  await page.click("#sign-in");
  await expect(page.locator("#login-error")).toHaveText("wrong user name or password");
  await page.screenshot({ path: "test-results/login-refused.png", fullPage: true });
  // The API answers anonymous calls with 401 and the error shape.
  const r = await page.request.get("/api/v1/jobs");
  expect(r.status()).toBe(401);
  expect((await r.json()).error.code).toBe("unauthenticated");
});

test("admin creates a user; the user keeps settings and is refused the admin panel", async ({ page, browser }) => {
  const errors = watchErrors(page);
  await signIn(page, ADMIN.user, ADMIN.pass, "/admin/users");
  await expect(page.locator("#who")).toContainText(`${ADMIN.user} · admin`);
  const name = `trader${Date.now() % 100000}`;
  await page.fill("#nu-name", name);
  await page.fill("#nu-pass", "trader-pass-1");
  await page.click("#nu-create");
  await expect(page.locator(`tr[data-user="${name}"]`)).toContainText("user");
  // Validation errors come back with the field at fault.
  await page.fill("#nu-name", "x");
  await page.fill("#nu-pass", "trader-pass-1");
  await page.click("#nu-create");
  await expect(page.locator("#users-error")).toContainText("(username)");
  await page.screenshot({ path: "test-results/admin-users.png", fullPage: true });
  expect(errors).toEqual([]);

  const ctx = await browser.newContext();
  const user = await ctx.newPage();
  const userErrors = watchErrors(user);
  await signIn(user, name, "trader-pass-1", "/settings");
  await expect(user.locator("#who")).toContainText(`${name} · user`);
  await expect(user.locator("nav")).not.toContainText("Backfill");
  await user.selectOption("#risk-profile", "high");
  await user.fill("#capital", "2500");
  await user.click("#save-settings");
  await expect(user.locator("#settings-saved")).toHaveText("Saved: high profile, $2500.00");
  await user.reload();
  await hydrated(user);
  await expect(user.locator("#risk-profile")).toHaveValue("high");
  await expect(user.locator("#capital")).toHaveValue("2500");
  await user.fill("#capital", "-3");
  await user.locator("#capital").evaluate((e: HTMLInputElement) => e.removeAttribute("min"));
  await user.click("#save-settings");
  await expect(user.locator("#settings-error")).toContainText("(capital)");
  await user.screenshot({ path: "test-results/user-settings.png", fullPage: true });

  for (const path of ["/admin/jobs", "/admin/users", "/admin/backfill", "/admin/system", "/admin/training", "/admin/evaluate", "/admin/models"]) {
    const resp = await user.goto(path);
    expect(resp?.status()).toBe(403);
    await expect(user.locator("#forbidden")).toContainText("admins only");
  }
  await user.screenshot({ path: "test-results/user-refused.png", fullPage: true });
  const api = await user.request.get("/api/v1/users");
  expect(api.status()).toBe(403);
  expect(userErrors).toEqual([]);
  await ctx.close();
});

test("system page shows live numbers", async ({ page }) => {
  await signIn(page, ADMIN.user, ADMIN.pass, "/admin/system");
  await expect(page.locator("#system .card")).toHaveCount(10);
  await expect(page.locator("#system")).toContainText("Candles");
  // The six bundled series and the followed universe's three (15m, 1h, 4h).
  await expect(page.locator("#system")).toContainText(/\d+ in 9 series/);
  await expect(page.locator("#follow-table tr.follow-row")).toHaveCount(3, { timeout: 30_000 });
  await expect(page.locator('#follow-table tr.follow-row[data-state="live"]').first()).toContainText("BTC/USDT", { timeout: 30_000 });
  await page.screenshot({ path: "test-results/admin-system.png", fullPage: true });
});
