// The sandbox payment page in a real browser: Debian's headless Chromium driven by
// playwright-core, doing what a candidate does after the app opens the payment page URL.
//
// Usage: node cashier.mjs <payment-page-url> <pay|cancel|look> [screenshot.png]
//   pay    — open the page, read the order summary, press 确认付款 / Pay, read the result page
//   cancel — the same with 取消 / Cancel
//   look   — open the page and report what it offers, without pressing anything
// Prints one JSON line per step; the Rust test (server/tests/payments/) reads them.
// Chromium: $CHROMIUM or /usr/bin/chromium (tests/run-all.sh installs Debian's package).
import { chromium } from "playwright-core"

const [url, action, screenshot] = process.argv.slice(2)
if (!url || !["pay", "cancel", "look"].includes(action)) {
  console.error("usage: node cashier.mjs <payment-page-url> <pay|cancel|look> [screenshot.png]")
  process.exit(2)
}
const say = (o) => console.log(JSON.stringify(o))

// The machine has no network beyond localhost: these flags keep Chromium from trying.
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
})
try {
  const page = await browser.newPage({ viewport: { width: 390, height: 844 } })
  const opened = await page.goto(url)
  const text = async (selector) => ((await page.locator(selector).count()) ? (await page.locator(selector).innerText()).trim() : null)
  const summary = async () => ({
    out_trade_no: await text("#out_trade_no"),
    trade_status: await text("#trade_status"),
    total_amount: await text("#total_amount"),
  })
  const payButton = page.getByRole("button", { name: /Pay/ })
  say({
    step: "opened",
    http_status: opened.status(),
    title: await page.title(),
    can_pay: (await payButton.count()) > 0,
    result: await page.locator("#result").getAttribute("data-status").catch(() => null),
    ...(await summary()),
  })
  if (action !== "look") {
    const button = action === "pay" ? payButton : page.getByRole("button", { name: /Cancel/ })
    await Promise.all([page.waitForNavigation(), button.click()])
    say({
      step: "result",
      title: await page.title(),
      result: await page.locator("#result").getAttribute("data-status"),
      heading: await text("#result"),
      return_link: (await page.locator("#return").count()) > 0,
      ...(await summary()),
    })
  }
  if (screenshot) {
    await page.screenshot({ path: screenshot, fullPage: true })
    say({ step: "screenshot", path: screenshot })
  }
} finally {
  await browser.close()
}
