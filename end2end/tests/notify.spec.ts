import { test, expect } from "@playwright/test";
import * as http from "node:http";
import * as crypto from "node:crypto";
import type { AddressInfo } from "node:net";
import { ADMIN, hydrated, signIn, waitReady, watchErrors } from "./helpers";

test.beforeAll(async ({ request }) => waitReady(request));

/** A webhook receiver that checks TraderAI's HMAC signature as a user's would. */
function receiver(secret: string) {
  const got: { verified: boolean; body: any; event: string }[] = [];
  const server = http.createServer((req, res) => {
    let raw = "";
    req.on("data", (c) => (raw += c));
    req.on("end", () => {
      const sig = String(req.headers["x-traderai-signature"] ?? "");
      const parts = Object.fromEntries(sig.split(",").map((p) => p.split("=") as [string, string]));
      const want = crypto.createHmac("sha256", secret).update(`${parts.t}.${raw}`).digest("hex");
      got.push({ verified: parts.v1 === want, body: JSON.parse(raw), event: String(req.headers["x-traderai-event"] ?? "") });
      res.writeHead(204).end();
    });
  });
  return { server, got };
}

test("notification channels: a bad address is named, a signed webhook receives the test, preferences persist, failures show to admins", async ({ page }) => {
  const errors = watchErrors(page);
  const secret = "e2e-webhook-secret-0123";
  const { server, got } = receiver(secret);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as AddressInfo).port;
  try {
    await signIn(page, ADMIN.user, ADMIN.pass, "/settings");
    await hydrated(page);
    const panel = page.locator("#notifications");
    await expect(panel).toBeVisible();

    await page.selectOption("#channel-kind", "webhook");
    await page.fill("#channel-address", "not a url");
    await page.fill("#channel-secret", "short-secret-but-16+");
    await page.click("#channel-add");
    await expect(page.locator("#channel-error")).toContainText("(url)");

    await page.fill("#channel-address", `http://127.0.0.1:${port}/in`);
    await page.fill("#channel-secret", secret);
    await page.click("#channel-add");
    const row = page.locator("#channels tr.channel-row[data-kind=webhook]");
    await expect(row).toHaveCount(1);
    await expect(row.locator(".hint")).toHaveText("127.0.0.1");
    await expect(panel).not.toContainText(secret);

    await row.locator(".channel-test").click();
    await expect(page.locator("#test-queued")).toBeVisible();
    await expect.poll(() => got.length, { timeout: 20_000 }).toBe(1);
    expect(got[0].verified).toBeTruthy();
    expect(got[0].body.kind).toBe("test");
    expect(got[0].body.title).toBe("Test message from TraderAI");
    expect(got[0].event).toBe(String(got[0].body.id));

    // Preferences: a bad zone is named; good ones survive a reload.
    await page.fill("#notify-tz", "Mars/Olympus");
    await page.click("#notify-save");
    await expect(page.locator("#notify-error")).toContainText("(timezone)");
    await page.locator(".notify-event[value=signal]").uncheck();
    await page.fill("#quiet-from", "22:00");
    await page.fill("#quiet-to", "07:00");
    await page.fill("#notify-tz", "Europe/Berlin");
    await page.fill("#daily-at", "08:30");
    await page.click("#notify-save");
    await expect(page.locator("#notify-saved")).toBeVisible();
    await page.reload();
    await hydrated(page);
    await expect(page.locator(".notify-event[value=signal]")).not.toBeChecked();
    await expect(page.locator(".notify-event[value=kill_switch]")).toBeChecked();
    await expect(page.locator("#notify-tz")).toHaveValue("Europe/Berlin");
    await expect(page.locator("#quiet-from")).toHaveValue("22:00");
    await expect(page.locator("#daily-at")).toHaveValue("08:30");

    // A Discord webhook nobody answers: its test fails, is retried, and
    // Admin → System says so.
    await page.selectOption("#channel-kind", "discord");
    await page.fill("#channel-address", "http://127.0.0.1:9/api/webhooks/1/e2e");
    await page.click("#channel-add");
    const discord = page.locator("#channels tr.channel-row[data-kind=discord]");
    await expect(discord).toHaveCount(1);
    await discord.locator(".channel-test").click();
    await expect(page.locator("#test-queued")).toBeVisible();
    await expect.poll(async () => {
      await page.goto("/admin/system");
      await hydrated(page);
      return page.locator("#troubles tr.trouble-row").count();
    }, { timeout: 30_000, intervals: [2_000] }).toBeGreaterThan(0);
    await expect(page.locator("#troubles")).toContainText("discord");
    await expect(page.locator("#troubles")).not.toContainText("/api/webhooks/1/e2e");

    // Removing the channels leaves none.
    await page.goto("/settings");
    await hydrated(page);
    for (const kind of ["webhook", "discord"]) {
      await page.locator(`#channels tr.channel-row[data-kind=${kind}] .channel-remove`).click();
      await expect(page.locator(`#channels tr.channel-row[data-kind=${kind}]`)).toHaveCount(0);
    }
  } finally {
    server.close();
  }
  expect(errors).toEqual([]);
});
