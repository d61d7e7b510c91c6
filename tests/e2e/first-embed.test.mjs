// A merchant's first embed (issue 13): the README's two tags pasted into a product page on
// another origin than the proxy's. Listed in TRYON_ALLOWED_ORIGINS, the try-on works end to end;
// not listed, the shopper reads a neutral sentence instead of "check your connection", no photo
// step is offered and nothing is uploaded, and the console tells the merchant which origin to
// list where. A spent daily budget ends the same way. Real proxy binary, real Chromium, two
// loopback origins.

import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, test } from "node:test";

import { PERSON, choosePhoto, dialogState, events, openDialog, recordEvents, submitAndWaitForResult, widget } from "./widget-flow.mjs";
import { launchBrowser, startProxy, waitFor } from "./util.mjs";

const UNAVAILABLE = "Try-on isn't available on this page yet.";
const NETWORK = "We can't reach the try-on service. Check your connection and try again.";

/** The README's "Add to any product page" tags, with the proxy's address filled in. */
function merchantPage(proxyUrl) {
  const proxy = proxyUrl.replace(/\/$/, "");
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Linen shirt</title></head><body>
    <h1>Linen shirt, blue</h1>
    <script src="${proxy}/widget.js" async></script>

    <try-on-button
      garment="${proxy}/demo/garment.png"
      category="upper"
      product="Linen shirt, blue">
    </try-on-button>
    </body></html>`;
}

/** A static server on its own loopback port: the merchant's storefront, another origin. */
async function storefront(html) {
  const server = createServer((request, response) => {
    if (request.url === "/products/linen-shirt") {
      response.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(html());
    } else {
      response.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return { server, origin, page: `${origin}/products/linen-shirt` };
}

let proxy, listed, unlisted;

before(async () => {
  // The proxy's address is known only once it runs, the storefronts' ports before it starts.
  let proxyUrl = "";
  listed = await storefront(() => merchantPage(proxyUrl));
  unlisted = await storefront(() => merchantPage(proxyUrl));
  proxy = await startProxy({
    localDurationMs: 500,
    // One try-on a day: the listed page spends it, then meets the spent budget.
    args: ["--allowed-origins", listed.origin, "--daily-budget", "1"],
  });
  proxyUrl = proxy.url;
});

after(async () => {
  await proxy?.stop();
  for (const site of [listed, unlisted]) {
    site?.server.closeAllConnections();
    site?.server.close();
  }
});

/** A browser on `site`'s product page that records the widget's calls to the proxy, its
 * `tryon:*` events and the console's warnings. */
async function visit(site) {
  const browser = await launchBrowser();
  const { page } = browser;
  const sent = [];
  page.on("request", (request) => {
    const url = new URL(request.url());
    if (url.origin === new URL(proxy.url).origin && url.pathname.startsWith("/v1/")) {
      sent.push(`${request.method()} ${url.pathname}`);
    }
  });
  const warnings = [];
  page.on("console", (message) => message.type() === "warning" && warnings.push(message.text()));
  await recordEvents(page);
  await page.goto(site.page);
  return { browser, page, sent, warnings };
}

/** The sentence the dialog shows in place of a result (null while there is none), and
 * whether its photo step is shown. */
const dialogSays = (page) =>
  page.evaluate(() => {
    const root = document.querySelector("try-on-button").shadowRoot;
    const shown = (node) => !!node && !node.closest("[hidden]");
    const sentence = root.querySelector("[data-role=error]");
    return {
      sentence: shown(sentence) ? sentence.textContent.trim() : null,
      photoStep: shown(root.querySelector("input[type=file]")),
      retry: shown(root.querySelector("[data-action=retry]")),
    };
  });

async function waitForSentence(page, describe) {
  return waitFor(async () => ((await dialogSays(page)).sentence ? dialogSays(page) : null), {
    timeoutMs: 30_000,
    describe: async () => `the dialog never said why: ${await dialogState(page)}\n${await describe()}`,
  });
}

const uploads = (sent) => sent.filter((line) => /^POST \/v1\/(tryons|checks|photos)/.test(line));
const hints = (warnings) => warnings.filter((line) => line.startsWith("try-on:"));

test("the README's tags on a listed origin try on end to end, then a spent budget is unavailable, not a network error", async () => {
  const { browser, page, sent, warnings } = await visit(listed);
  try {
    const describe = () => `${proxy.describe()}\nrequests: ${sent.join(", ")}`;
    await openDialog(page);
    await choosePhoto(page, PERSON);
    await submitAndWaitForResult(page, describe);
    assert.equal(uploads(sent).filter((line) => line === "POST /v1/tryons").length, 1, describe());
    assert.deepEqual(hints(warnings), [], "a working embed says nothing to the merchant");

    // Another product on the same page: the day's one try-on is spent (429 quota_exhausted).
    await widget(page, "[data-action=close]").click();
    await page.evaluate(() => {
      const button = document.querySelector("try-on-button");
      button.setAttribute("garment", button.getAttribute("garment").replace("garment.png", "trousers.png"));
      button.setAttribute("category", "lower");
    });
    await openDialog(page);
    await widget(page, "[data-action=submit]:not([disabled])").click();
    const shown = await waitForSentence(page, describe);
    assert.equal(shown.sentence, UNAVAILABLE, describe());
    assert.equal(shown.retry, false, "nothing to retry");
    const failed = await events(page, "tryon:failed");
    assert.deepEqual(failed.map((event) => event.detail.error), ["quota_exhausted"]);
    const [hint, ...more] = hints(warnings);
    assert.deepEqual(more, [], `one line for the merchant: ${warnings.join("\n")}`);
    assert.match(hint, /TRYON_DAILY_BUDGET/);
    assert.ok(hint.includes(listed.origin), hint);
  } finally {
    await browser.close();
  }

  // The next shopper of the day is told when the dialog opens, before she picks a photo
  // (issue 13: `GET /v1/config` answers the create's refusal).
  const next = await visit(listed);
  try {
    await openDialog(next.page);
    const describe = async () => `${await dialogState(next.page)}\nrequests: ${next.sent.join(", ")}`;
    const shown = await waitForSentence(next.page, describe);
    assert.equal(shown.sentence, UNAVAILABLE, await describe());
    assert.equal(shown.photoStep, false, "no photo step for a try-on that cannot happen");
    assert.deepEqual(uploads(next.sent), [], `nothing was uploaded: ${await describe()}`);
    assert.ok(next.sent.includes("GET /v1/config"), await describe());
  } finally {
    await next.browser.close();
  }
});

test("the README's tags on an unlisted origin say try-on is unavailable, upload nothing and tell the merchant what to list", async () => {
  const { browser, page, sent, warnings } = await visit(unlisted);
  try {
    await openDialog(page);
    const describe = async () => `${await dialogState(page)}\nrequests: ${sent.join(", ")}\n${proxy.describe()}`;
    const shown = await waitForSentence(page, describe);
    assert.equal(shown.sentence, UNAVAILABLE, await describe());
    assert.notEqual(shown.sentence, NETWORK);
    // No photo step: the shopper is not invited to pick a photo that could never be sent.
    assert.equal(shown.photoStep, false, await describe());
    assert.equal(shown.retry, false);
    assert.equal(await widget(page, "button[part=button]").getAttribute("aria-disabled"), "true");

    // The merchant's one line: the page's origin and the setting that lists it.
    const [hint, ...more] = hints(warnings);
    assert.ok(hint, `no console line for the merchant; warnings: ${JSON.stringify(warnings)}`);
    assert.deepEqual(more, [], `one line, not one per request: ${warnings.join("\n")}`);
    assert.ok(hint.includes(unlisted.origin), hint);
    assert.match(hint, /TRYON_ALLOWED_ORIGINS/);
    const failed = await events(page, "tryon:failed");
    assert.deepEqual(failed.map((event) => event.detail.error), ["origin_not_allowed"]);

    // The button stays marked unavailable; a tap on it anyway (aria-disabled does not stop
    // one) reopens the same sentence and still sends no photo.
    await widget(page, "[data-action=close]").click();
    const button = widget(page, "button[part=button]");
    assert.equal(await button.getAttribute("aria-disabled"), "true", "still marked unavailable");
    await button.click({ force: true });
    assert.deepEqual(await waitForSentence(page, describe), shown);
    assert.deepEqual(uploads(sent), [], `nothing was uploaded: ${await describe()}`);
    assert.ok(sent.includes("GET /v1/config"), `the widget asked the proxy first: ${sent.join(", ")}`);
    assert.equal(hints(warnings).length, 1);
  } finally {
    await browser.close();
  }
});
