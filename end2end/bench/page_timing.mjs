// Time to first paint and to interactive (hydrated) of the dashboard, in
// Debian's Chromium: N fresh page loads, median and worst.
//   node bench/page_timing.mjs BASE_URL USER PASS [N]
import { chromium } from "@playwright/test";

const [base, user, pass, n = "20"] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const ctx = await browser.newContext({ baseURL: base });
const page = await ctx.newPage();
await page.goto("/login");
await page.fill("#username", user);
await page.fill("#password", pass);
await page.click("#sign-in");
await page.waitForURL(/\/$/);

const results = { paint: [], interactive: [], transfer: [] };
for (let i = 0; i < Number(n); i++) {
  const t0 = Date.now();
  await page.goto("/", { waitUntil: "commit" });
  await page.waitForSelector("main[data-hydrated=true]", { timeout: 30_000 });
  const wall = Date.now() - t0;
  const m = await page.evaluate(() => {
    const nav = performance.getEntriesByType("navigation")[0];
    const fcp = performance.getEntriesByName("first-contentful-paint")[0];
    const bytes = performance.getEntriesByType("resource").reduce((s, r) => s + (r.transferSize || 0), nav.transferSize || 0);
    return { fcp: fcp ? fcp.startTime : null, bytes };
  });
  results.paint.push(m.fcp);
  results.interactive.push(wall);
  results.transfer.push(m.bytes);
}
const stat = (xs) => {
  const s = xs.filter((x) => x != null).sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)], max: s[s.length - 1] };
};
console.log(JSON.stringify({
  loads: Number(n),
  first_contentful_paint_ms: stat(results.paint),
  hydrated_ms: stat(results.interactive),
  transfer_bytes_first: results.transfer[0],
}));
await browser.close();
