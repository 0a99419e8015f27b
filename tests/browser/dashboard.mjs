// dashboard.mjs: drives the real dashboard in Debian's headless Chromium against two
// real hauld daemons (tests/integration/test_39_dashboard.sh starts them and the
// workloads, and checks the processes afterwards). Every step prints one line,
// "ok NAME" or "FAIL NAME: WHY"; the facts the shell checks are written to --out
// as JSON. Screenshots of each view go to --shots.
//
//   node dashboard.mjs --a URL --b URL --a-peer HOST:PORT --b-peer HOST:PORT
//        --token-file F --pid N --slow-pid N [--lazy-pid N] [--container RUNC_ID]
//        --shots DIR --out FILE
//        [--chromium PATH]
import { chromium } from "playwright-core";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";

const arg = (name, def) => {
  const i = process.argv.indexOf("--" + name);
  if (i < 0 || i + 1 >= process.argv.length) {
    if (def !== undefined) return def;
    console.error(`dashboard.mjs: --${name} is required`);
    process.exit(2);
  }
  return process.argv[i + 1];
};
const A = arg("a"), B = arg("b"), A_PEER = arg("a-peer"), B_PEER = arg("b-peer");
const TOKEN = readFileSync(arg("token-file"), "utf8").trim();
const PID = Number(arg("pid")), SLOW_PID = Number(arg("slow-pid"));
const LAZY_PID = Number(arg("lazy-pid", "0"));
const CONTAINER = arg("container", "");
const SHOTS = arg("shots"), OUT = arg("out");
const CHROMIUM = arg("chromium", "/usr/bin/chromium");
mkdirSync(SHOTS, { recursive: true });

let failed = 0;
const facts = {};
const ok = (name) => console.log("ok " + name);
const fail = (name, why) => { failed++; console.log("FAIL " + name + ": " + String(why).split("\n")[0]); };
async function step(name, fn) {
  try { await fn(); ok(name); return true; } catch (e) { fail(name, e && e.message ? e.message : e); return false; }
}
function expect(cond, why) { if (!cond) throw new Error(why); }

// Console errors and uncaught exceptions of a page. An answer of the API that is
// an error on purpose (the invalid form's 422) is logged by Chromium as a failed
// resource load: those are counted apart, by status.
function watch(page, label) {
  const w = { errors: [], httpErrors: [] };
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    const t = m.text();
    const s = /status of (\d{3})/.exec(t);
    if (s) w.httpErrors.push(s[1] + " " + (m.location() && m.location().url));
    else w.errors.push(label + ": " + t);
  });
  page.on("pageerror", (e) => w.errors.push(label + ": uncaught " + e.message));
  return w;
}

async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, name + ".png"), fullPage: true });
}

const browser = await chromium.launch({
  executablePath: CHROMIUM, headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
// The token, as the token form would keep it; the form itself is tested below.
await ctx.addInitScript((t) => { if (location.search !== "?notoken") sessionStorage.setItem("hauld.token", t); }, TOKEN);
ctx.setDefaultTimeout(15000);

try {
  // ---- (a) loading: every view of A renders, without console errors
  const a = await ctx.newPage();
  const wa = watch(a, "A");
  await step("A: the jobs view loads", async () => {
    await a.goto(A + "/", { waitUntil: "load" });
    await a.waitForSelector("#view-jobs:not([hidden])");
    await a.waitForFunction(() => /live/.test(document.querySelector("#stream").textContent));
    expect(await a.title() === "Migrations · hauld", "title " + (await a.title()));
  });
  await step("A: the chart library was served by hauld", async () => {
    expect(await a.evaluate(() => typeof uPlot === "function"), "uPlot is not defined");
  });
  await step("A: the host view shows CRIU and the strategy of live", async () => {
    await a.goto(A + "/#/host");
    await a.waitForSelector("#host .facts");
    const t = await a.textContent("#host");
    const h = await (await fetch(A + "/healthz")).json();
    expect(t.includes(h.criu.version_text), "no CRIU version " + h.criu.version_text);
    expect(t.includes(h.strategies.live), "no strategy " + h.strategies.live);
    expect(t.includes("Container engines") && t.includes("runc"), "no engines");
  });

  // ---- (b) B's jobs view is open while A migrates to B: the row arrives live
  const b = await ctx.newPage();
  const wb = watch(b, "B");
  await b.goto(B + "/#/jobs");
  await b.waitForFunction(() => /live/.test(document.querySelector("#stream").textContent));
  const bRowsBefore = await b.locator("#jobs tbody tr[data-id]").count();
  // A reload would lose this: the row must come without one.
  await b.evaluate(() => { window.hauldTestMarker = 1; });

  // ---- (c) the form of A: pick the workload, destination B, start; reach succeeded
  let jobId = null;
  await step("A: the form lists the workload as a movable tree", async () => {
    await a.goto(A + "/#/new");
    await a.waitForSelector(`#cand-pid-${PID}`);
    const row = await a.locator(`#cand-procs tr:has(#cand-pid-${PID})`).textContent();
    expect(/workload/.test(row), "row: " + row);
    expect(/yes/.test(row), "not movable: " + row);
  });
  await shot(a, "new-form");
  await step("A: a migration started from the form reaches succeeded on screen", async () => {
    await a.check(`#cand-pid-${PID}`);
    expect(await a.inputValue("#n-pid") === String(PID), "the radio did not fill the pid");
    await a.fill("#n-to", B_PEER);
    await a.click("#start");
    await a.waitForURL(/#\/jobs\/[0-9a-f-]{36}$/);
    jobId = a.url().split("/").pop();
    facts.job = jobId;
    await a.waitForSelector('#job-facts dd[data-fact="state"].succeeded', { timeout: 60000 });
  });
  await step("A: the job view's chart rendered (a canvas with the iterations)", async () => {
    await a.waitForSelector("#chart-iter .uplot canvas");
    const n = await a.locator("#iter-table tbody tr").count();
    expect(n >= 1, "no iteration row");
    const size = await a.evaluate(() => { const c = document.querySelector("#chart-iter canvas"); return [c.width, c.height]; });
    expect(size[0] > 100 && size[1] > 50, "canvas " + size);
  });
  await step("A: the timeline, downtime and events are shown", async () => {
    const tl = await a.textContent("#timeline");
    for (const p of ["connecting", "dumping", "restoring", "done (succeeded)"])
      expect(tl.includes(p), "timeline lacks " + p + ": " + tl);
    expect(/downtime/.test(await a.textContent("#times")), "no downtime bar");
    expect(await a.locator("#events tbody tr").count() >= 5, "few events");
    const comp = await a.textContent('#job-facts dd[data-fact="compression"]');
    expect(/^(zstd|none)/.test(comp), "no compression fact: " + comp);
    expect(await a.isDisabled("#cancel"), "cancel enabled on a finished job");
    expect(/ended \(succeeded\)/.test(await a.textContent("#cancel-why")), "no reason why not");
  });
  await step("A: the CRIU logs load", async () => {
    await a.click("#load-logs");
    await a.waitForSelector("#logs details summary");
    expect(/dump\.log/.test(await a.textContent("#logs")), "no dump.log");
  });
  await shot(a, "job-succeeded");
  await step("A: the job's address survives a reload", async () => {
    await a.reload();
    await a.waitForSelector('#job-facts dd[data-fact="state"].succeeded');
    expect((await a.textContent("#job-id")) === jobId, "another job after reload");
  });
  await step("B: its jobs view got the incoming job live, as peer → this host", async () => {
    const row = b.locator(`#jobs tbody tr[data-id="${jobId}"]`);
    await row.waitFor({ timeout: 20000 });
    await b.waitForSelector(`#jobs tbody tr[data-id="${jobId}"] td.succeeded`, { timeout: 20000 });
    const t = await row.textContent();
    expect(t.includes(A_PEER.split(":")[0]) && t.includes("→ this host"), "direction: " + t);
    expect(await b.evaluate(() => window.hauldTestMarker === 1), "the page was reloaded");
    expect(await b.locator("#jobs tbody tr[data-id]").count() === bRowsBefore + 1, "rows");
  });
  await shot(b, "jobs-b");
  await step("A: the jobs view says this host → B and filters by state", async () => {
    await a.goto(A + "/#/jobs?state=succeeded");
    const row = a.locator(`#jobs tbody tr[data-id="${jobId}"]`);
    await row.waitFor();
    expect((await row.textContent()).includes("this host → " + B_PEER), await row.textContent());
    await a.selectOption("#f-state", "failed");
    await a.waitForURL(/state=failed/);
    await a.waitForFunction((id) => !document.querySelector(`#jobs tr[data-id="${id}"]`), jobId);
  });

  // ---- (c2) mode lazy from the form, when this host can: the lazy pages are shown
  if (LAZY_PID) {
    await step("A: a lazy migration from the form succeeds and shows its lazy pages", async () => {
      await a.goto(A + "/#/new");
      await a.waitForSelector(`#cand-pid-${LAZY_PID}`);
      await a.check(`#cand-pid-${LAZY_PID}`);
      await a.fill("#n-to", B_PEER);
      await a.check('input[name="mode"][value="lazy"]');
      await a.click("#start");
      await a.waitForURL(/#\/jobs\/[0-9a-f-]{36}$/);
      facts.lazy_job = a.url().split("/").pop();
      await a.waitForSelector('#job-facts dd[data-fact="state"].succeeded', { timeout: 60000 });
      await a.waitForSelector("#lazy-box:not([hidden])");
      await a.waitForFunction(() => /pages sent; 0 left/.test(document.querySelector("#lazy-text").textContent));
      const t = await a.textContent("#timeline");
      expect(t.includes("lazy"), "no lazy phase: " + t);
      expect(/post-copy/.test(await a.textContent("#job-facts")), "strategy not post-copy");
    });
    await shot(a, "job-lazy");
  }

  // ---- (c3) containers: A's runc root holds one; the form lists it under type runc
  if (CONTAINER) {
    await step("A: the form lists the runc container and picking it fills the field", async () => {
      await a.goto(A + "/#/new");
      await a.waitForSelector("#cand-procs tbody tr");
      await a.selectOption("#n-type", "runc");
      expect(await a.isHidden("#pick-pid"), "the pid list is still shown");
      const radio = a.locator(`#cand-ctrs input[value="${CONTAINER}"]`);
      await radio.waitFor();
      const row = await a.locator(`#cand-ctrs tr:has(input[value="${CONTAINER}"])`).textContent();
      expect(/running/.test(row), "row: " + row);
      await radio.check();
      expect(await a.inputValue("#n-container") === CONTAINER, "the field was not filled");
      await shot(a, "new-form-runc");
      await a.selectOption("#n-type", "pid");
    });
  }

  // ---- (d) an invalid form: the API's error beside the field it names
  await step("A: an invalid destination shows the API's error beside \"to\"", async () => {
    await a.goto(A + "/#/new");
    await a.waitForSelector(`#cand-pid-${PID}, #cand-procs tbody tr`);
    await a.fill("#n-pid", String(PID));
    await a.fill("#n-to", "no-port-here");
    await a.click("#start");
    await a.waitForSelector("#err-to:not(:empty)");
    const msg = await a.textContent("#err-to");
    expect(/HOST:PORT/.test(msg), "message: " + msg);
    expect(await a.getAttribute("#n-to", "aria-invalid") === "true", "not marked invalid");
    expect(await a.evaluate(() => document.activeElement.id) === "n-to", "focus elsewhere");
    expect(a.url().endsWith("#/new"), "navigated away");
  });
  await step("A: an out-of-range option shows its error beside that option", async () => {
    await a.fill("#n-to", B_PEER);
    await a.fill("#o-max_frozen_ms", "5");
    await a.click("#start");
    await a.waitForSelector('[id="err-options.max_frozen_ms"]:not(:empty)');
    expect(await a.textContent("#err-to") === "", "the old error stayed");
    await a.fill("#o-max_frozen_ms", "");
  });
  await shot(a, "new-form-error");

  // ---- (e) cancel from the page: B holds its jobs in preflight; B -> A is cancelled
  let slowId = null;
  await step("B: a slow migration is cancelled from its page and ends cancelled", async () => {
    await b.goto(B + "/#/new");
    await b.waitForSelector(`#cand-pid-${SLOW_PID}`);
    await b.check(`#cand-pid-${SLOW_PID}`);
    await b.fill("#n-to", A_PEER);
    await b.click("#start");
    await b.waitForURL(/#\/jobs\/[0-9a-f-]{36}$/);
    slowId = b.url().split("/").pop();
    facts.slow_job = slowId;
    await b.waitForSelector('#job-facts dd[data-fact="phase"]:text("preflight")', { timeout: 20000 });
    expect(!(await b.isDisabled("#cancel")), "cancel disabled in preflight");
    await shot(b, "job-running");
    await b.click("#cancel");
    await b.waitForSelector('#job-facts dd[data-fact="state"].cancelled', { timeout: 60000 });
    expect(/source/.test(await b.textContent("#job-error")), "no process_at: " + (await b.textContent("#job-error")));
  });
  await shot(b, "job-cancelled");

  // ---- (f) the token form: a tab without the token is asked for it
  await step("a tab without the token asks for it, and then shows the jobs", async () => {
    const c = await ctx.newPage();
    await c.goto(A + "/?notoken#/jobs");
    await c.evaluate(() => sessionStorage.removeItem("hauld.token"));
    await c.reload();
    await c.waitForSelector("#token-view:not([hidden])");
    await c.fill("#token-input", TOKEN);
    await c.press("#token-input", "Enter");
    await c.waitForSelector(`#jobs tbody tr[data-id="${jobId}"]`);
    await c.close();
  });

  await a.goto(A + "/#/host");
  await a.waitForSelector("#host .facts");
  await step("A: the host view lists B as a peer seen recently", async () => {
    await a.waitForFunction((p) => document.querySelector("#host").textContent.includes(p), B_PEER);
  });
  await shot(a, "host");
  await step("A: the jobs come a page at a time (#/jobs?limit=1), older and back", async () => {
    await a.goto(A + "/#/jobs?limit=1");
    await a.waitForFunction(() => document.querySelectorAll("#jobs tbody tr[data-id]").length === 1);
    const first = await a.getAttribute("#jobs tbody tr[data-id]", "data-id");
    expect(!(await a.isDisabled("#page-next")), "no older page");
    await a.click("#page-next");
    await a.waitForURL(/before=\d+/);
    await a.waitForFunction((id) => { const r = document.querySelector("#jobs tbody tr[data-id]"); return r && r.dataset.id !== id; }, first);
    await a.reload();
    await a.waitForFunction((id) => { const r = document.querySelector("#jobs tbody tr[data-id]"); return r && r.dataset.id !== id; }, first);
    await a.click("#page-first");
    await a.waitForFunction((id) => { const r = document.querySelector("#jobs tbody tr[data-id]"); return r && r.dataset.id === id; }, first);
  });
  await a.goto(A + "/#/jobs");
  await a.waitForSelector(`#jobs tbody tr[data-id="${jobId}"]`);
  await shot(a, "jobs-a");

  await step("keyboard: the views and the start button are reachable with Tab", async () => {
    await a.goto(A + "/#/new");
    await a.waitForSelector("#cand-procs tbody tr");
    await a.evaluate(() => document.activeElement && document.activeElement.blur());
    const seen = new Set();
    for (let i = 0; i < 80; i++) {
      await a.keyboard.press("Tab");
      seen.add(await a.evaluate(() => document.activeElement.id || document.activeElement.getAttribute("href") || ""));
    }
    for (const want of ["#/jobs", "#/new", "#/host", "n-type", "n-to"])
      expect(seen.has(want), "never focused " + want);
  });

  await step("no console errors on either page", async () => {
    const errs = [...wa.errors, ...wb.errors];
    expect(errs.length === 0, errs.join(" | "));
    const bad = [...wa.httpErrors, ...wb.httpErrors].filter((s) => !s.startsWith("422 "));
    expect(bad.length === 0, "failed loads: " + bad.join(", "));
  });
} catch (e) {
  fail("the browser run", e && e.stack ? e.stack : e);
} finally {
  writeFileSync(OUT, JSON.stringify(facts) + "\n");
  await browser.close();
}
process.exit(failed ? 1 : 0);
