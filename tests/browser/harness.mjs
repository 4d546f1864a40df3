// Browser interop tests: real roomcast processes and a real Chromium (driven by playwright-core),
// all inside a network namespace that each test creates and deletes itself.
//
// Why a namespace: Chromium never gathers 127.0.0.1 as an ICE candidate, so on loopback alone it
// cannot connect. Each test gets a namespace with a veth pair (10.77.0.1 on rcb0, a default
// route through it) and runs the server, the GStreamer processes and Chromium there; nothing
// leaves the namespace.

import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

export const SOURCE_DIR = process.env.ROOMCAST_SOURCE_DIR || path.resolve(here, '..', '..');
export const ROOMCAST = process.env.ROOMCAST_BIN || path.join(SOURCE_DIR, 'build', 'src', 'app', 'roomcast');
export const PLUGIN_DIR = process.env.ROOMCAST_PLUGIN_DIR || '';
export const CHROMIUM = process.env.ROOMCAST_CHROMIUM || '/usr/bin/chromium';
// Where tests write what they make (screenshots): the build folder under meson
// (ROOMCAST_ARTIFACT_DIR, set in tests/browser/meson.build), else tests/browser/out (ignored by
// git). Never the source tree's tracked files: a test run leaves the checkout as it was.
export const OUT_DIR = process.env.ROOMCAST_ARTIFACT_DIR || path.join(SOURCE_DIR, 'tests', 'browser', 'out');
export const ADDR = '10.77.0.1';
export const SIZE = ['--size', '640x360'];
const VERBOSE = !!process.env.ROOMCAST_BROWSER_VERBOSE;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The promise's value, or `fallback` after ms; the timer never outlives the race (a pending
// timer would keep node from exiting).
export function within(promise, ms, fallback = null) {
  let timer;
  const t = new Promise((r) => { timer = setTimeout(() => r(fallback), ms); });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

export function log(...args) {
  const t = (performance.now() / 1000).toFixed(1).padStart(6);
  console.log(`[${t}s]`, ...args);
}

// ---- preflight: skip or fail before any test runs ----------------------------------------------

// Exit code 77 is "skipped" for meson. On CI (CI=true), or when the meson option
// browser-tests is enabled, anything missing is a failure instead.
export async function preflight() {
  const strict = process.env.CI === 'true' || process.env.ROOMCAST_BROWSER_TESTS === 'enabled';
  const problems = [];
  if (typeof process.getuid === 'function' && process.getuid() !== 0)
    problems.push('not root: the tests create a network namespace (ip netns add) and need root');
  if (spawnSync('ip', ['-V']).status !== 0) problems.push('the "ip" command (iproute2) is missing');
  if (!fs.existsSync(CHROMIUM)) problems.push(`Chromium is missing at ${CHROMIUM} (apt-get install chromium)`);
  if (!fs.existsSync(ROOMCAST)) problems.push(`roomcast is not built at ${ROOMCAST}`);
  let playwright = null;
  const pwDir = path.join(SOURCE_DIR, 'node_modules', 'playwright-core');
  if (!fs.existsSync(path.join(pwDir, 'package.json'))) {
    problems.push(`node_modules/playwright-core is missing in ${SOURCE_DIR} (run "npm ci" there, or ./dev setup)`);
  } else {
    try {
      playwright = await import(pathToFileURL(path.join(pwDir, 'index.mjs')).href);
    } catch (e) {
      problems.push(`playwright-core does not load: ${e.message}`);
    }
  }
  if (problems.length) {
    const head = strict ? 'FAIL: browser tests cannot run' : 'SKIP: browser tests cannot run here';
    console.error(`${head}:\n  - ${problems.join('\n  - ')}`);
    if (strict)
      console.error(process.env.CI === 'true'
        ? '(CI=true: a missing requirement fails the browser suite instead of skipping it)'
        : '(meson option browser-tests=enabled: a missing requirement is a failure)');
    process.exit(strict ? 1 : 77);
  }
  return playwright;
}

// ---- the network namespace ----------------------------------------------------------------------

function run(args, { check = true } = {}) {
  const r = spawnSync(args[0], args.slice(1), { encoding: 'utf8' });
  if (check && r.status !== 0)
    throw new Error(`${args.join(' ')} failed (${r.status}): ${r.stderr || r.stdout}`);
  return r;
}

// Namespaces we made, for the exit handler.
const liveNamespaces = new Set();

// Waits (at most 3 s) until `dev` in namespace `ns` reports carrier and operational state UP:
// the kernel settles a new link's state asynchronously, and a browser started before that sees
// the change as a network change.
function waitLinkUp(ns, dev) {
  const deadline = Date.now() + 3000;
  for (;;) {
    const out = run(['ip', '-n', ns, '-o', 'link', 'show', dev], { check: false }).stdout || '';
    if (/LOWER_UP/.test(out) && /state UP/.test(out)) return;
    if (Date.now() > deadline) throw new Error(`${dev} in ${ns} did not come up: ${out.trim()}`);
    spawnSync('sleep', ['0.05']);
  }
}

export class NetNs {
  constructor(name) {
    this.name = name;
  }

  // Namespaces of earlier runs that were killed before they could clean up (SIGKILL, say). A run
  // lasts minutes at most, so a namespace of ours older than STALE_MS is left over. (Not "its pid
  // is gone": a run in another PID namespace, sharing /run/netns, would look gone.)
  static removeStale() {
    const STALE_MS = 30 * 60 * 1000;
    let names = [];
    try { names = fs.readdirSync('/run/netns'); } catch { return; }
    for (const name of names) {
      if (!/^rcbt-\d+-[0-9a-f]+$/.test(name) || liveNamespaces.has(name)) continue;
      let age = 0;
      try { age = Date.now() - fs.statSync(path.join('/run/netns', name)).mtimeMs; } catch { continue; }
      if (age < STALE_MS) continue;
      log(`removing the namespace ${name}, left over by a run ${Math.round(age / 60000)} minutes ago`);
      liveNamespaces.add(name);
      new NetNs(name).destroy();
    }
  }

  static create() {
    NetNs.removeStale();
    const name = `rcbt-${process.pid}-${randomBytes(3).toString('hex')}`;
    run(['ip', 'netns', 'add', name]);
    const ns = new NetNs(name);
    liveNamespaces.add(name);
    try {
      for (const cmd of [
        // No IPv6: its link-local addresses finish duplicate detection a second or two after
        // the links come up, and Chromium, watching the namespace's addresses, aborts whatever
        // it is loading then with ERR_NETWORK_CHANGED (a page's scripts, in one CI run).
        'sysctl -qw net.ipv6.conf.all.disable_ipv6=1',
        'sysctl -qw net.ipv6.conf.default.disable_ipv6=1',
        'ip link set lo up',
        // Not named veth*: libnice skips interfaces whose names start with veth (or docker,
        // virbr, vnet) when it gathers, and the GStreamer peers would offer no candidate.
        'ip link add rcb0 type veth peer name rcb1',
        `ip addr add ${ADDR}/24 dev rcb0`,
        'ip link set rcb0 up',
        'ip link set rcb1 up',
        'ip route add default dev rcb0',
      ])
        run(['ip', 'netns', 'exec', name, ...cmd.split(' ')]);
      waitLinkUp(name, 'rcb0');
    } catch (e) {
      ns.destroy();
      throw e;
    }
    if (VERBOSE) log('netns', name, 'created');
    return ns;
  }

  wrap(args) {
    return ['ip', 'netns', 'exec', this.name, ...args];
  }

  // Kills whatever still runs in the namespace (all of it started by this test), then deletes it.
  destroy() {
    if (!liveNamespaces.has(this.name)) return;
    liveNamespaces.delete(this.name);
    for (let i = 0; i < 3; i++) {
      const r = run(['ip', 'netns', 'pids', this.name], { check: false });
      const pids = (r.stdout || '').split(/\s+/).filter(Boolean).map(Number);
      if (!pids.length) break;
      for (const pid of pids) {
        try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      }
      spawnSync('sleep', ['0.2']);
    }
    run(['ip', 'netns', 'del', this.name], { check: false });
    if (VERBOSE) log('netns', this.name, 'deleted');
  }
}

function cleanupNamespaces() {
  for (const name of [...liveNamespaces]) new NetNs(name).destroy();
}
process.on('exit', cleanupNamespaces);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    cleanupNamespaces();
    process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
  });
}

// ---- processes -----------------------------------------------------------------------------------

export class Proc {
  constructor(args, { name, env } = {}) {
    this.name = name || path.basename(args[0]);
    this.lines = [];
    this.times = []; // performance.now() when each stdout line arrived
    this.stderrText = '';
    this.waiters = [];
    this.exitCode = null;
    this.child = spawn(args[0], args.slice(1), { env: env || process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.signal = signal;
        this.exitCode = code == null ? 128 + (os.constants.signals[signal] || 0) : code;
        resolve(this.exitCode);
        this.notify();
      });
      this.child.on('error', (e) => {
        this.stderrText += String(e);
        this.exitCode = 127;
        resolve(127);
        this.notify();
      });
    });
    let buf = '';
    this.child.stdout.setEncoding('utf8');
    this.child.stdout.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        this.lines.push(line);
        this.times.push(performance.now());
        if (VERBOSE) log(`${this.name}>`, line);
        this.notify();
      }
    });
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (d) => {
      this.stderrText = (this.stderrText + d).slice(-20000);
      if (VERBOSE) for (const l of d.split('\n')) if (l) log(`${this.name}!`, l);
    });
  }

  notify() {
    for (const w of this.waiters.splice(0)) w();
  }

  stderr() {
    return this.stderrText.slice(-4000);
  }

  // Waits for a stdout line matching rx, from line index `start`; returns the match.
  async waitLine(rx, timeoutMs, start = 0) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (let i = start; i < this.lines.length; i++) {
        const m = rx.exec(this.lines[i]);
        if (m) return m;
      }
      const left = deadline - Date.now();
      if (left <= 0 || this.exitCode != null)
        throw new Error(`${this.name}: no line matching ${rx} within ${timeoutMs / 1000} s` +
          (this.exitCode != null ? ` (exited ${this.exitCode})` : '') +
          `\nstdout:\n${this.lines.join('\n')}\nstderr:\n${this.stderr()}`);
      await new Promise((r) => {
        const t = setTimeout(r, Math.min(left, 500));
        this.waiters.push(() => { clearTimeout(t); r(); });
      });
    }
  }

  count(rx) {
    return this.lines.filter((l) => rx.test(l)).length;
  }

  async wait(timeoutMs) {
    const t = await within(this.exited, timeoutMs);
    if (t == null) {
      this.kill();
      throw new Error(`${this.name} did not exit within ${timeoutMs / 1000} s\nstderr:\n${this.stderr()}`);
    }
    return t;
  }

  jsonResult() {
    for (let i = this.lines.length - 1; i >= 0; i--)
      if (this.lines[i].startsWith('{')) return JSON.parse(this.lines[i]);
    throw new Error(`${this.name} printed no JSON\nstdout:\n${this.lines.join('\n')}\nstderr:\n${this.stderr()}`);
  }

  async interrupt(timeoutMs = 10000) {
    if (this.exitCode == null) this.child.kill('SIGINT');
    return this.wait(timeoutMs);
  }

  kill() {
    this.killedByTest = true;
    if (this.exitCode == null) {
      try { this.child.kill('SIGKILL'); } catch { /* gone */ }
    }
  }
}

// ---- one test's world: namespace, server, GStreamer peers, browsers -----------------------------

const CHROMIUM_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
  '--autoplay-policy=no-user-gesture-required',
  '--mute-audio',
  '--hide-scrollbars',
  '--window-size=1024,640',
];

// ---- a lossy link: two namespaces joined by tests/netlab/netlab.py ------------------------------

// A namespace that someone else (the netlab process) creates and deletes.
class BorrowedNs {
  constructor(name) {
    this.name = name;
  }

  wrap(args) {
    return ['ip', 'netns', 'exec', this.name, ...args];
  }

  destroy() {}
}

// Side A and side B joined by an impaired link ({a_to_b: {loss: 5, delay_ms: 50, ...}, b_to_a:
// {...}}, the fields of netlab's Impair). The netlab process holds the namespaces until close().
export class Link {
  static async open(impair) {
    const script = path.join(SOURCE_DIR, 'tests', 'netlab', 'netlab.py');
    const child = spawn('python3', [script, 'hold', JSON.stringify(impair)], { stdio: ['pipe', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d) => { err += d; });
    // netlab's stdout, line by line: the first line describes the lab, each later one answers a set().
    const lines = [];
    const waiters = [];
    let buf = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        lines.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
      while (lines.length && waiters.length) waiters.shift()(lines.shift());
    });
    child.on('exit', () => { for (const w of waiters.splice(0)) w(null); });
    const nextLine = (ms) => within(new Promise((resolve) => {
      if (lines.length) resolve(lines.shift());
      else if (child.exitCode != null) resolve(null);
      else waiters.push(resolve);
    }), ms);
    const line = await nextLine(15000);
    if (!line) {
      child.kill('SIGKILL');
      throw new Error(`netlab did not start: ${err}`);
    }
    const info = JSON.parse(line);
    const link = new Link();
    Object.assign(link, { child, nextLine, a: new BorrowedNs(info.a), b: new BorrowedNs(info.b),
      addrA: info.addr_a, addrB: info.addr_b, stderr: () => err });
    return link;
  }

  // Changes the link while it runs ({a_to_b: {rate_kbit: 500, queue_ms: 200}, b_to_a: {}}: a
  // direction given replaces that direction's impairment, {} makes it clean; one left out keeps
  // its own). Resolves once the forwarder has the change.
  async set(impair) {
    this.child.stdin.write(JSON.stringify({ cmd: 'set', ...impair }) + '\n');
    // A timed-out answer would pair the next set() with this one's late line: fail loudly instead.
    const line = await this.nextLine(5000);
    const r = line ? JSON.parse(line) : { error: `no answer within 5 s\n${this.stderr()}` };
    if (!r.set) throw new Error(`netlab set ${JSON.stringify(impair)}: ${r.error}`);
  }

  // Ends the netlab process (it deletes the namespaces); returns its last words (the counts).
  async close() {
    this.child.stdin.end();
    if ((await within(new Promise((r) => this.child.on('exit', r)), 10000, 'timeout')) === 'timeout')
      this.child.kill('SIGKILL');
    return this.stderr();
  }
}

// Opens `url` in `page`. Chromium aborts a navigation with ERR_NETWORK_CHANGED when the
// namespace's interfaces settle in its first seconds (seen twice in one CI run, in the https
// tests); that one error is retried (at most twice), any other fails at once.
async function gotoPage(page, url) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await page.goto(url, { timeout: 15000 });
    } catch (e) {
      if (attempt >= 2 || !String(e.message).includes('ERR_NETWORK_CHANGED')) throw e;
      log(`navigation to ${url}: ${e.message.split('\n')[0]}; again`);
      await sleep(500);
    }
  }
}

export class World {
  // opts.link: a Link; the world's own processes run on its side A, `browser(name, {side: 'b'})`
  // runs a Chromium on side B. opts.ns: where the world runs instead of a fresh NetNs; anything
  // with `name` (Chromium runs there), `wrap(args)` and `destroy()` (called last by close()), as
  // the TURN test's three namespaces.
  constructor(playwright, label, { link, ns } = {}) {
    this.playwright = playwright;
    this.label = label;
    this.procs = [];
    this.browsers = [];
    this.tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'roomcast-browser-'));
    this.link = link || null;
    this.ns = link ? link.a : ns || NetNs.create();
    this.addr = link ? link.addrA : ADDR;
    this.pageLogs = [];
  }

  env(extra = {}) {
    const env = { ...process.env, GST_DEBUG: process.env.GST_DEBUG || '1', ...extra };
    if (PLUGIN_DIR) env.GST_PLUGIN_PATH = PLUGIN_DIR + (env.GST_PLUGIN_PATH ? ':' + env.GST_PLUGIN_PATH : '');
    return env;
  }

  start(args, name, env = {}) {
    const p = new Proc(this.ns.wrap([ROOMCAST, ...args]), { name: name || args[0], env: this.env(env) });
    this.procs.push(p);
    return p;
  }

  // extra: more options of `roomcast serve`; env: more of its environment.
  async serve(port = 0, extra = [], env = {}) {
    const p = this.start(['serve', '--host', this.addr, '--port', String(port), ...extra], 'serve', env);
    const m = await p.waitLine(/listening on (ws:\/\/\S+)/, 10000);
    this.server = p;
    this.ws = m[1];
    this.http = this.ws.replace(/^ws:/, 'http:').replace(/\/ws$/, '');
    this.port = Number(new URL(this.http).port);
    return p;
  }

  // A server speaking TLS with a certificate it makes at start (`--tls self-signed`): pages are
  // https (a secure origin in its own right), clients pin this.fingerprint. `env`: more of the
  // server's environment (ROOMCAST_TOKEN_SECRET).
  async serveSecure(extra = [], env = {}) {
    const p = this.start(['serve', '--host', ADDR, '--port', '0', '--tls', 'self-signed', ...extra], 'serve', env);
    const m = await p.waitLine(/listening on (wss:\/\/\S+)/, 10000);
    const f = await p.waitLine(/fingerprint ([0-9A-F:]+)$/, 5000);
    this.server = p;
    this.ws = m[1];
    this.http = this.ws.replace(/^wss:/, 'https:').replace(/\/ws$/, '');
    this.port = Number(new URL(this.http).port);
    this.fingerprint = f[1];
    return p;
  }

  async live(room, ...extra) {
    const p = this.start(['live', '--server', this.ws, '--room', room, '--source', 'test', ...SIZE,
      '--ice-loopback', 'off', ...extra], 'live');
    await p.waitLine(/is live/, 20000);
    return p;
  }

  watch(room, ...extra) {
    return this.start(['watch', '--server', this.ws, '--room', room, '--sink', 'fake', '--ice-loopback', 'off',
      ...extra], 'watch');
  }

  // A Chromium in the namespace (with a link: on side `side`), with its own fresh profile.
  async browser(name = 'chromium', { side = 'a' } = {}) {
    const ns = side === 'b' && this.link ? this.link.b : this.ns;
    const wrapper = path.join(this.tmp, `chromium-in-${ns.name}.sh`);
    if (!fs.existsSync(wrapper))
      fs.writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${ns.name} ${CHROMIUM} "$@"\n`, { mode: 0o755 });
    const profile = fs.mkdtempSync(path.join(this.tmp, `profile-${name}-`));
    const ctx = await this.playwright.chromium.launchPersistentContext(profile, {
      executablePath: wrapper,
      headless: false, // --headless=new is in the args; Playwright's --headless is not added
      // Screen capture needs a secure page; http://10.77.0.1 is not one, so the test server's
      // origin is declared secure (what https or localhost gives a real user). An https server
      // (serveSecure) is one already; its self-signed certificate is taken as a user who accepted
      // it would.
      args: [...CHROMIUM_ARGS,
        ...(this.http && this.http.startsWith('http:') ? [`--unsafely-treat-insecure-origin-as-secure=${this.http}`] : [])],
      ignoreHTTPSErrors: !!(this.http && this.http.startsWith('https:')),
      viewport: { width: 1024, height: 640 },
      timeout: 30000,
    });
    this.browsers.push(ctx);
    ctx.label = name;
    return ctx;
  }

  // A page of the web client: role viewer, host or member.
  // init: a function run in the page before its scripts (page.addInitScript); query: more URL
  // parameters ({codec: 'vp9'}).
  async open(ctx, room, role, { name, label, init, query } = {}) {
    const page = ctx.pages().find((p) => p.url() === 'about:blank' && !p.claimed) || (await ctx.newPage());
    page.claimed = true;
    if (init) await page.addInitScript(init);
    const tag = label || `${ctx.label}/${role}`;
    page.on('console', (m) => {
      const line = `${tag} console.${m.type()}: ${m.text()}`;
      this.pageLogs.push(line);
      if (VERBOSE) log(line);
    });
    page.on('pageerror', (e) => {
      this.pageLogs.push(`${tag} pageerror: ${e.message}`);
      log(`${tag} pageerror: ${e.message}`);
    });
    const q = new URLSearchParams({ role, ...query });
    if (name) q.set('name', name);
    await gotoPage(page, `${this.http}/room/${encodeURIComponent(room)}?${q}`);
    await page.waitForFunction(() => window.roomcast !== undefined, null, { timeout: 10000, polling: 100 });
    page.tag = tag;
    return page;
  }

  // Everything the test started goes, and the namespace with it.
  async close({ failed = false } = {}) {
    if (failed && this.pageLogs.length) {
      console.error(`--- browser console (${this.label}, last 60 lines) ---`);
      for (const l of this.pageLogs.slice(-60)) console.error(l);
    }
    if (failed) {
      for (const p of this.procs) {
        const how = p.exitCode == null ? 'running'
          : p.signal ? `killed by ${p.signal}${p.killedByTest ? ' (by the test)' : ', not by this test'}`
          : `exited ${p.exitCode}`;
        console.error(`--- ${p.name} (${how}) ---`);
        console.error(`stdout:\n${p.lines.slice(-30).join('\n')}\nstderr:\n${p.stderr().slice(-2000)}`);
      }
    }
    for (const b of this.browsers.splice(0)) {
      await within(b.close().catch(() => {}), 5000);
    }
    for (const p of this.procs.reverse()) p.kill();
    await within(Promise.all(this.procs.map((p) => p.exited)), 5000);
    this.ns.destroy();
    fs.rmSync(this.tmp, { recursive: true, force: true });
  }
}

// Runs fn(world) in a fresh world and always tears it down (opts: World's options).
export async function withWorld(playwright, label, fn, opts = {}) {
  const w = new World(playwright, label, opts);
  let failed = true;
  try {
    await fn(w);
    failed = false;
  } finally {
    await w.close({ failed });
  }
}

// ---- reading the pages --------------------------------------------------------------------------

export async function waitState(page, states, timeoutMs = 20000) {
  const want = Array.isArray(states) ? states : [states];
  try {
    await page.waitForFunction((w) => w.includes(window.roomcast.state), want, { timeout: timeoutMs, polling: 100 });
  } catch (e) {
    const now = await page.evaluate(() => ({ state: window.roomcast.state, message: window.roomcast.message }));
    throw new Error(`${page.tag}: state ${JSON.stringify(now.state)} (message ${JSON.stringify(now.message)}), ` +
      `wanted ${want.join(' or ')} within ${timeoutMs / 1000} s`);
  }
}

// Polls window.roomcast.stats() until pred(stats) holds; returns the stats.
export async function waitStats(page, pred, what, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  let last = null;
  while (Date.now() < deadline) {
    last = await page.evaluate(() => window.roomcast.stats());
    if (pred(last)) return last;
    await sleep(250);
  }
  throw new Error(`${page.tag}: ${what} not reached within ${timeoutMs / 1000} s; last stats ${JSON.stringify(last)}`);
}

// The viewer decoded more than `frames` frames of the host's video, and the <video> shows it.
export async function waitViewerFrames(page, frames, timeoutMs = 20000) {
  const stats = await waitStats(page, (all) => all.some((s) => s.inbound && s.inbound.framesDecoded > frames),
    `more than ${frames} decoded frames`, timeoutMs);
  await page.waitForFunction(() => window.roomcast.video().width > 0, null, { timeout: 5000, polling: 100 });
  const video = await page.evaluate(() => window.roomcast.video());
  return { inbound: stats.find((s) => s.inbound).inbound, video };
}

// ---- Firefox (Debian's firefox-esr, driven by npm puppeteer-core over WebDriver BiDi) ------------
//
// Playwright drives Chromium over a pipe, so Chromium can run inside the namespace through a
// wrapper. Puppeteer speaks to Firefox over a WebSocket that Firefox opens on 127.0.0.1 of *its*
// network namespace, which this process cannot reach. So the harness starts Firefox itself (inside
// the namespace) and bridges the port: it listens on 127.0.0.1:P here, Firefox listens on
// 127.0.0.1:P in the namespace (the same P: Firefox's remote agent refuses a Host header with
// another port), and each connection is piped through a small `node` running in the namespace.

export const FIREFOX = process.env.ROOMCAST_FIREFOX || '/usr/bin/firefox-esr';

// Everything preflight() checks, plus Firefox, puppeteer-core, Xvfb and gst-launch-1.0 (for the
// screen Firefox captures). Returns {playwright, puppeteer}; skips or fails like preflight().
export async function preflightFirefox() {
  const strict = process.env.CI === 'true' || process.env.ROOMCAST_BROWSER_TESTS === 'enabled';
  const problems = [];
  if (!fs.existsSync(FIREFOX)) problems.push(`Firefox is missing at ${FIREFOX} (apt-get install firefox-esr)`);
  for (const tool of ['Xvfb', 'gst-launch-1.0'])
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) problems.push(`${tool} is missing (see tools/debian-packages.txt)`);
  let puppeteer = null;
  const ppDir = path.join(SOURCE_DIR, 'node_modules', 'puppeteer-core');
  if (!fs.existsSync(path.join(ppDir, 'package.json'))) {
    problems.push(`node_modules/puppeteer-core is missing in ${SOURCE_DIR} (run "npm ci" there, or ./dev setup)`);
  } else {
    try {
      const mod = await import(pathToFileURL(path.join(ppDir, 'lib', 'esm', 'puppeteer', 'puppeteer-core.js')).href);
      // The profile writer puppeteer itself uses (its default test prefs), from its own dependency.
      const { createProfile } = createRequire(path.join(ppDir, 'package.json'))('@puppeteer/browsers');
      puppeteer = { connect: (o) => mod.default.connect(o), createProfile };
    } catch (e) {
      problems.push(`puppeteer-core does not load: ${e.message}`);
    }
  }
  if (problems.length) {
    const head = strict ? 'FAIL: Firefox browser tests cannot run' : 'SKIP: Firefox browser tests cannot run here';
    console.error(`${head}:\n  - ${problems.join('\n  - ')}`);
    if (strict) console.error('(CI=true or browser-tests=enabled: a missing requirement is a failure)');
    process.exit(strict ? 1 : 77);
  }
  const playwright = await preflight();
  return { playwright, puppeteer };
}

// Firefox's preferences for the tests (on top of puppeteer's defaults for automation).
export const FIREFOX_PREFS = {
  // getUserMedia (the meeting's microphone) without a prompt, from fake devices; getDisplayMedia
  // without a prompt too (it has no fake: it captures the X screen of DISPLAY).
  'media.navigator.permission.disabled': true,
  'media.navigator.streams.fake': true,
  // http://10.77.0.1:PORT is not a secure origin; this makes it one (Chromium's
  // --unsafely-treat-insecure-origin-as-secure), so navigator.mediaDevices exists.
  'dom.securecontext.allowlist': ADDR,
  // Like Chromium's --autoplay-policy=no-user-gesture-required.
  'media.autoplay.default': 0,
  'media.autoplay.blocking_policy': 0,
  // media.peerconnection.ice.obfuscate_host_addresses stays at its default (on): Firefox hides
  // its host candidates behind mDNS names, as it does for users.
};

// A page driver for Firefox with the part of Playwright's Page API the tests use, so that the
// same test body (and waitState/waitStats/waitViewerFrames) drives either browser.
export class FirefoxPage {
  constructor(page, tag) {
    this.page = page;
    this.tag = tag;
    this.kind = 'firefox';
    this.consoleLines = [];
  }

  goto(url, { timeout = 15000 } = {}) { return this.page.goto(url, { timeout }); }
  url() { return this.page.url(); }
  evaluate(fn, arg) { return this.page.evaluate(fn, arg); }
  waitForFunction(fn, arg, { timeout = 30000, polling = 100 } = {}) {
    return this.page.waitForFunction(fn, { timeout, polling }, arg);
  }
  click(selector) { return this.page.click(selector); }
  async check(selector) {
    if (!(await this.page.$eval(selector, (el) => el.checked))) await this.page.click(selector);
  }
  isVisible(selector) {
    return this.page.$eval(selector, (el) => !el.hidden && el.getClientRects().length > 0).catch(() => false);
  }
  close() { return this.page.close(); }
}

// Waits until fn(arg) is truthy in the page (either browser), polling every 100 ms; returns its
// value. On timeout the error names `what`, the page and the last value.
export async function waitFor(page, fn, arg, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await page.evaluate(fn, arg);
    if (last) return last;
    if (Date.now() > deadline)
      throw new Error(`${page.tag}: ${what} not reached within ${timeoutMs / 1000} s (last ${JSON.stringify(last)})`);
    await sleep(100);
  }
}

// An init script for pages (World.openPage's `init`): records every signalling message the page
// receives or sends as {dir: 'in'|'out', type, peer, reason, peers (welcome: how many), sdp} in
// window.__roomcastSignals. Tests count offers and byes with it.
export function recordSignals() {
  const seen = (window.__roomcastSignals = []);
  const note = (dir, data) => {
    try {
      const m = JSON.parse(data);
      seen.push({ dir, type: m.type, peer: dir === 'in' ? m.from : m.to, reason: m.reason,
        peers: Array.isArray(m.peers) ? m.peers.length : undefined, sdp: m.sdp });
    } catch { /* not ours */ }
  };
  const Native = window.WebSocket;
  class Recorded extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (e) => note('in', e.data));
    }
    send(data) {
      note('out', data);
      return super.send(data);
    }
  }
  window.WebSocket = Recorded;
}

export const signalsOf = (page) => page.evaluate(() => window.__roomcastSignals || []);

// Starts a process in the test's namespace (killed when the world closes).
World.prototype.spawnIn = function spawnIn(args, name, env = {}) {
  const p = new Proc(this.ns.wrap(args), { name, env: this.env(env) });
  this.procs.push(p);
  return p;
};

// An X server in the namespace (Xvfb picks a free display number itself); returns ":N".
World.prototype.xvfb = async function xvfb(size = '1280x720') {
  const x = this.spawnIn(['Xvfb', '-displayfd', '1', '-screen', '0', `${size}x24`, '-nolisten', 'tcp'], 'Xvfb');
  const m = await x.waitLine(/^(\d+)$/, 15000);
  return `:${m[1]}`;
};

// Something moving on that screen: a bouncing ball in a full-screen window (ximagesink). Resolves
// once the pipeline plays.
World.prototype.movingPicture = async function movingPicture(display, size = '1280x720', fps = 15) {
  const [wd, ht] = size.split('x');
  const p = this.spawnIn(['gst-launch-1.0', 'videotestsrc', 'pattern=ball', 'is-live=true', '!',
    `video/x-raw,width=${wd},height=${ht},framerate=${fps}/1`, '!', 'videoconvert', '!', 'ximagesink', 'sync=false'],
  'ball', { DISPLAY: display });
  await p.waitLine(/Setting pipeline to PLAYING/, 15000);
  return p;
};

// A Firefox in the namespace (with a link: on side `side`, as browser()), with a fresh profile,
// connected through puppeteer-core. display: the X screen getDisplayMedia captures (":N"), or none.
World.prototype.firefox = async function firefox(puppeteer, name = 'firefox', { display, side = 'a' } = {}) {
  const profile = fs.mkdtempSync(path.join(this.tmp, `profile-${name}-`));
  await puppeteer.createProfile('firefox', { path: profile, preferences: FIREFOX_PREFS });
  const home = fs.mkdtempSync(path.join(this.tmp, `home-${name}-`));
  const ns = side === 'b' && this.link ? this.link.b : this.ns;
  const nsName = ns.name;
  const bridges = new Set();
  const server = net.createServer((sock) => {
    const b = spawn('ip', ['netns', 'exec', nsName, process.execPath, '-e',
      "const s=require('net').connect(+process.argv[1],'127.0.0.1');process.stdin.pipe(s);s.pipe(process.stdout);" +
      "s.on('close',()=>process.exit(0));s.on('error',()=>process.exit(1));", String(port)],
    { stdio: ['pipe', 'pipe', 'ignore'] });
    bridges.add(b);
    sock.pipe(b.stdin);
    b.stdout.pipe(sock);
    sock.on('error', () => {});
    b.stdin.on('error', () => {});
    sock.on('close', () => b.kill());
    b.on('exit', () => { bridges.delete(b); sock.destroy(); });
  });
  await new Promise((resolve, reject) => { server.once('error', reject); server.listen(0, '127.0.0.1', resolve); });
  const port = server.address().port;
  const env = { HOME: home, MOZ_CRASHREPORTER_DISABLE: '1' };
  if (display) env.DISPLAY = display;
  const args = [FIREFOX, '--headless', '--no-remote', '--profile', profile, `--remote-debugging-port=${port}`, 'about:blank'];
  const procEnv = this.env(env);
  if (!display) delete procEnv.DISPLAY;
  const proc = new Proc(ns.wrap(args), { name, env: procEnv });
  this.procs.push(proc);
  const deadline = Date.now() + 30000;
  while (!/WebDriver BiDi listening on/.test(proc.stderrText)) {
    if (proc.exitCode != null || Date.now() > deadline) {
      server.close();
      throw new Error(`${name}: Firefox did not start (${proc.exitCode != null ? `exited ${proc.exitCode}` : 'no remote agent within 30 s'})\n${proc.stderr()}`);
    }
    await sleep(100);
  }
  const browser = await this.puppeteerConnect(puppeteer, port);
  const handle = {
    kind: 'firefox',
    label: name,
    browser,
    proc,
    async close() {
      await within(browser.close().catch(() => {}), 4000);
      for (const b of bridges) b.kill();
      server.close();
    },
  };
  this.browsers.push(handle);
  return handle;
};

World.prototype.puppeteerConnect = function puppeteerConnect(puppeteer, port) {
  return puppeteer.connect({
    browserWSEndpoint: `ws://127.0.0.1:${port}/session`,
    protocol: 'webDriverBiDi',
    defaultViewport: { width: 1024, height: 640 },
    protocolTimeout: 30000,
  });
};

// A page of the web client in either browser: a Chromium context from browser() (the Playwright
// page itself is the driver) or a Firefox from firefox() (a FirefoxPage). Same options as open();
// the driver's consoleLines holds this page's console messages.
World.prototype.openPage = async function openPage(browser, room, role, opts = {}) {
  if (browser.kind !== 'firefox') {
    const page = await this.open(browser, room, role, opts);
    page.kind = 'chromium';
    page.consoleLines = [];
    page.on('console', (m) => page.consoleLines.push(`console.${m.type()}: ${m.text()}`));
    return page;
  }
  const { name, label, init, query } = opts;
  const pages = await browser.browser.pages();
  const blank = pages.find((p) => p.url() === 'about:blank' && !p.claimed);
  const raw = blank || (await browser.browser.newPage());
  raw.claimed = true;
  const tag = label || `${browser.label}/${role}`;
  const page = new FirefoxPage(raw, tag);
  if (init) await raw.evaluateOnNewDocument(init);
  raw.on('console', (m) => {
    const line = `console.${m.type()}: ${m.text()}`;
    page.consoleLines.push(line);
    this.pageLogs.push(`${tag} ${line}`);
    if (VERBOSE) log(`${tag} ${line}`);
  });
  raw.on('pageerror', (e) => {
    this.pageLogs.push(`${tag} pageerror: ${e.message}`);
    log(`${tag} pageerror: ${e.message}`);
  });
  const q = new URLSearchParams({ role, ...query });
  if (name) q.set('name', name);
  await gotoPage(page, `${this.http}/room/${encodeURIComponent(room)}?${q}`);
  await page.waitForFunction(() => window.roomcast !== undefined, null, { timeout: 10000, polling: 100 });
  return page;
};

// Decoded video frames per peer as the page's getStats() reports them: {peerId: framesDecoded}.
export async function framesByPeer(page) {
  const all = await page.evaluate(() => window.roomcast.stats());
  const out = {};
  for (const s of all) out[s.id] = s.inbound ? s.inbound.framesDecoded : 0;
  return out;
}

// Asks a running `roomcast meet` for its counts so far (SIGUSR1): {name or id: frames}.
export async function meetReport(proc) {
  const mark = proc.lines.length;
  proc.child.kill('SIGUSR1');
  await proc.waitLine(/report end/, 5000, mark);
  const out = {};
  for (const l of proc.lines.slice(mark)) {
    if (l.startsWith('{')) {
      const r = JSON.parse(l);
      out[r.name || r.id] = r.frames;
    }
  }
  return out;
}

// Polls meetReport() until every name in `names` has at least `frames` frames; returns the report.
export async function waitMeetFrames(proc, names, frames, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  let now = {};
  for (;;) {
    now = await meetReport(proc);
    if (names.every((n) => (now[n] || 0) >= frames)) return now;
    if (Date.now() > deadline || proc.exitCode != null)
      throw new Error(`${proc.name}: not ${frames} frames from each of ${names.join(', ')} within ${timeoutMs / 1000} s; ` +
        `report ${JSON.stringify(now)}\nstderr:\n${proc.stderr()}`);
    await sleep(300);
  }
}

// A meeting page decoded more than `frames` frames from each of `n` other members (getStats), and
// shows them in tiles; returns the stats.
export async function waitMemberFrames(page, n, frames, timeoutMs = 25000) {
  const all = await waitStats(page,
    (st) => st.filter((s) => s.inbound && s.inbound.framesDecoded > frames && s.inbound.width > 0).length >= n,
    `frames from ${n} other member(s)`, timeoutMs);
  await page.waitForFunction((k) => window.roomcast.tiles().filter((t) => t.width > 0).length >= k, n, { timeout: 5000, polling: 100 });
  return all;
}

// `roomcast meet` in the test's world: a 640x360@15 test pattern, frames dropped.
// Its signaller logs at INFO, so that waitJoined() sees it enter the room.
World.prototype.meet = function meet(room, name, ...extra) {
  return this.spawnIn([ROOMCAST, 'meet', '--server', this.ws, '--room', room, '--name', name, '--source', 'test',
    '--size', '640x360', '--fps', '15', '--sink', 'fake', '--ice-loopback', 'off', '--timeout', '80', ...extra],
  `meet-${name}`, { GST_DEBUG: `${process.env.GST_DEBUG || '1'},roomcastsignaller:4` });
};

// Waits until a process's stderr matches rx (polling; its stderr has no line waiters).
export async function waitStderr(proc, rx, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (!rx.test(proc.stderrText)) {
    if (proc.exitCode != null || Date.now() > deadline)
      throw new Error(`${proc.name}: nothing matching ${rx} on stderr within ${timeoutMs / 1000} s` +
        (proc.exitCode != null ? ` (exited ${proc.exitCode})` : '') + `\nstderr:\n${proc.stderr()}`);
    await sleep(100);
  }
}

// A GStreamer process with roomcastsignaller logging at INFO (meet() does it) is in its room.
export const waitJoined = (proc, timeoutMs = 15000) => waitStderr(proc, /joined room \S+ as /, timeoutMs);

// In the page (page.evaluate(startSwitchMeter)): every presented frame's time and width
// (requestVideoFrameCallback), from now on, in window.__meter. Keeps the longest pause, each pause over 150 ms, and each change of the presented width with
// the pause that ended at it (the pause at the switch as the viewer sees it).
export function startSwitchMeter() {
  const v = document.querySelector('video');
  const m = { start: performance.now(), last: 0, lastWidth: 0, maxGap: 0, frames: 0, gaps: [], sizes: [] };
  window.__meter = m;
  const tick = (now, meta) => {
    const width = (meta && meta.width) || v.videoWidth;
    const gap = m.last ? now - m.last : 0;
    if (m.last) {
      m.maxGap = Math.max(m.maxGap, gap);
      if (gap > 150) m.gaps.push({ at: now, gap, from: m.lastWidth, to: width });
    }
    if (width !== m.lastWidth) m.sizes.push({ at: now, width, gap });
    m.last = now;
    m.lastWidth = width;
    m.frames++;
    v.requestVideoFrameCallback(tick);
  };
  v.requestVideoFrameCallback(tick);
}

// Several init scripts as one (openPage's `init` takes a function or a string of script).
export const initScripts = (...fns) => fns.map((f) => `(${f})();`).join('\n');

// An init script: the page's RTCPeerConnections, in order of creation, in window.__pcs.
export function trackConnections() {
  window.__pcs = [];
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Native {
    constructor(...args) { super(...args); window.__pcs.push(this); }
  };
}

// Audio samples received per connection (inbound-rtp audio totalSamplesReceived), for pages
// with trackConnections; waits until each of `n` connections has more than `samples`.
export function waitAudio(page, n, samples, timeoutMs = 15000) {
  return waitFor(page, ([k, min]) => Promise.all(window.__pcs.filter((pc) => pc.connectionState !== 'closed').map(async (pc) => {
    let got = 0;
    (await pc.getStats()).forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'audio') got += s.totalSamplesReceived || 0; });
    return got;
  })).then((a) => (a.length >= k && a.filter((x) => x > min).length >= k ? a : null)), [n, samples], timeoutMs,
  `more than ${samples} audio samples from ${n} peer(s)`);
}
