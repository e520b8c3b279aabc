import { test, expect } from "@playwright/test";
import { ADMIN, hydrated, signIn, waitReady, watchErrors } from "./helpers";

test.beforeAll(async ({ request }) => waitReady(request));

test("a paper account opens on the followed replay, steps live, halts and resumes; the kill switch halts it", async ({ page, request }) => {
  const errors = watchErrors(page);
  // The demo replay's follower must be live: accounts trade the followed series.
  await expect.poll(async () => {
    const ready = await (await request.get("/health/ready")).json();
    return (ready.follow?.series ?? []).some((s: { state: string }) => s.state === "live");
  }, { timeout: 60_000, intervals: [1_000] }).toBeTruthy();
  await signIn(page, ADMIN.user, ADMIN.pass, "/paper");
  await hydrated(page);
  // A bad capital is named and opens nothing.
  await page.fill("#pa-capital", "lots");
  await page.click("#pa-open");
  await expect(page.locator("#pa-error")).toContainText("(capital)");
  await page.fill("#pa-name", "e2e paper");
  await page.fill("#pa-capital", "250");
  await page.selectOption("#pa-profile", "high");
  await page.click("#pa-open");
  const detail = page.locator("#pa-detail");
  await expect(detail).toBeVisible({ timeout: 15_000 });
  await expect(page.locator("#pa-state")).toHaveText("active");
  await expect(page.locator("#pa-accounts tr.pa-row").first()).toBeVisible();
  // Replayed bars close every 7.5 s: the account applies them with no reload (WebSocket).
  const summary = detail.locator(".summary");
  const first = await summary.textContent();
  await expect.poll(async () => summary.textContent(), { timeout: 40_000 }).not.toEqual(first);
  await expect(page.locator("#pa-equity")).toBeVisible();
  await expect(page.locator("#pa-ledger-csv")).toHaveAttribute("href", /\/api\/v1\/paper\/accounts\/\d+\/ledger\.csv/);

  // The owner's halt, with its reason shown; then resume.
  await page.fill("#pa-reason", "stepping away");
  await page.click("#pa-halt");
  await expect(page.locator("#pa-state")).toHaveText("halted");
  await expect(page.locator("#pa-halt-reason")).toContainText("stepping away");
  await page.click("#pa-resume");
  await expect(page.locator("#pa-state")).toHaveText("active");

  // A broker: the mock venue refuses a wrong secret, takes the right one in
  // dry-run, shows only the key's first characters; an admin switches it live.
  await page.fill("#pa-broker-url", "http://127.0.0.1:3101");
  await page.fill("#pa-broker-key", "mock-api-key");
  await page.fill("#pa-broker-secret", "not-the-secret");
  await page.click("#pa-broker-connect");
  await expect(page.locator("#pa-broker-error")).toContainText("-1022");
  await page.fill("#pa-broker-secret", "mock-api-secret");
  await page.click("#pa-broker-connect");
  await expect(page.locator("#pa-broker-state")).toHaveAttribute("data-mode", "dry_run", { timeout: 15_000 });
  await expect(page.locator("#pa-broker-state")).toContainText("mock…");
  await expect(page.locator("#pa-broker")).not.toContainText("mock-api-secret");
  await page.click("#pa-broker-switch");
  await expect(page.locator("#pa-broker-state")).toHaveAttribute("data-mode", "live");
  await expect(page.locator("#pa-broker-state")).toContainText(`by ${ADMIN.user}`);
  await page.click("#pa-broker-switch");
  await expect(page.locator("#pa-broker-state")).toHaveAttribute("data-mode", "dry_run");

  // The global kill switch from Admin → System halts the account too.
  await page.goto("/admin/system");
  await hydrated(page);
  await page.fill("#kill-reason", "e2e drill");
  await page.click("#kill-halt");
  await expect(page.locator("#kill-state")).toHaveAttribute("data-halted", "true");
  await expect(page.locator("#kill-state")).toContainText("e2e drill");
  await page.goto("/paper");
  await hydrated(page);
  await page.locator("#pa-accounts tr.pa-row").first().click();
  await expect(page.locator("#pa-state")).toHaveText("halted");
  await expect(page.locator("#pa-halt-reason")).toContainText("kill switch: e2e drill");
  await page.screenshot({ path: "test-results/paper-halted.png", fullPage: true });
  await page.goto("/admin/system");
  await hydrated(page);
  await page.click("#kill-resume");
  await expect(page.locator("#kill-state")).toHaveAttribute("data-halted", "false");
  await page.goto("/paper");
  await hydrated(page);
  await page.locator("#pa-accounts tr.pa-row").first().click();
  await expect(page.locator("#pa-state")).toHaveText("active");
  expect(errors).toEqual([]);
});
