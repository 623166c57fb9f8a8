// Drives the demo page in Debian's Chromium with playwright-core (never a
// downloaded browser) for tests/test_js_browser.py: argv[2] is the page's URL,
// argv[3] Chromium's path. Commands on stdin, one JSON answer a line on stdout:
//   {"cmd": "state"}            -> {me, players}
//   {"cmd": "key", "key": "ArrowRight"}
//   {"cmd": "close"}
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const [url, executablePath] = process.argv.slice(2);
const browser = await chromium.launch({ executablePath, args: ["--no-sandbox", "--headless=new"] });
try {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  await page.goto(url);
  await page.waitForFunction(() => window.flatsyncDemo?.me() != null, null, { timeout: 60_000 });
  const say = (value) => process.stdout.write(JSON.stringify(value) + "\n");
  say({ ready: true });
  for await (const line of createInterface({ input: process.stdin })) {
    const command = JSON.parse(line);
    if (command.cmd === "state") {
      say(await page.evaluate(() => ({ me: window.flatsyncDemo.me(), players: window.flatsyncDemo.players(), errors: [] })).then((s) => ({ ...s, errors })));
    } else if (command.cmd === "key") {
      await page.keyboard.press(command.key);
      say({ pressed: command.key });
    } else if (command.cmd === "close") break;
  }
} finally {
  await browser.close();
}
process.exit(0); // stdin may still be open
