// Process harness for the JS client suite: starts a real `coffer server --dev` on a free loopback port, waits
// for GET /health/ready, captures its output to .artifacts/test-logs/, and stops it (SIGTERM, then SIGKILL).
// COFFER_CMD (a command line split on spaces) replaces the repository's ./coffer wrapper.
import { spawn } from "node:child_process";
import { createWriteStream, mkdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const LOG_DIR = path.join(REPO_ROOT, ".artifacts", "test-logs");
const READY_TIMEOUT_MS = Number(process.env.COFFER_READY_TIMEOUT ?? 60) * 1000;
const STOP_TIMEOUT_MS = 10_000;

export const DEV_CREDENTIALS = { accessKeyId: "test", secretAccessKey: "test" };

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class CofferServer {
  constructor(name = "js") {
    this.name = name;
    this.proc = null;
    this.port = null;
    this.logPath = null;
    this.exitCode = null;
  }

  get endpoint() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start() {
    this.port = await freePort();
    const cmd = process.env.COFFER_CMD ? process.env.COFFER_CMD.split(" ").filter(Boolean) : [path.join(REPO_ROOT, "coffer")];
    const args = [...cmd.slice(1), "server", "--dev", "--listen", `127.0.0.1:${this.port}`];
    mkdirSync(LOG_DIR, { recursive: true });
    this.logPath = path.join(LOG_DIR, `${this.name}-${this.port}.log`);
    const log = createWriteStream(this.logPath);
    log.write(`$ ${cmd[0]} ${args.join(" ")}\n`);
    // detached: own process group, so the wrapper and the server it starts are stopped together.
    this.proc = spawn(cmd[0], args, { cwd: REPO_ROOT, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    this.proc.stdout.pipe(log);
    this.proc.stderr.pipe(log);
    this.exited = new Promise((resolve) => this.proc.on("exit", (code, signal) => {
      this.exitCode = code ?? signal;
      resolve();
    }));
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let last = "no answer yet";
    while (Date.now() < deadline) {
      if (this.exitCode !== null) throw new Error(`coffer server exited (${this.exitCode}) before it was ready\n${this.logTail()}`);
      try {
        const res = await fetch(`${this.endpoint}/health/ready`, { signal: AbortSignal.timeout(2000) });
        if (res.status === 200) return this;
        last = `HTTP ${res.status}`;
      } catch (e) {
        last = String(e.cause?.code ?? e.message);
      }
      await sleep(200);
    }
    await this.stop();
    throw new Error(`coffer server not ready after ${READY_TIMEOUT_MS / 1000} s (${last})\n${this.logTail()}`);
  }

  signal(sig) {
    try {
      process.kill(-this.proc.pid, sig);
    } catch {
      /* already gone */
    }
  }

  async stop() {
    if (!this.proc) return;
    if (this.exitCode === null) {
      this.signal("SIGTERM");
      const timedOut = await Promise.race([this.exited.then(() => false), sleep(STOP_TIMEOUT_MS).then(() => true)]);
      if (timedOut) {
        this.signal("SIGKILL");
        await this.exited;
      }
    }
    this.signal("SIGKILL");
    this.proc = null;
  }

  logTail(lines = 40) {
    try {
      return `--- ${this.logPath} (tail) ---\n` + readFileSync(this.logPath, "utf8").split("\n").slice(-lines).join("\n");
    } catch {
      return "";
    }
  }

  client(options = {}) {
    return new SecretsManagerClient({
      endpoint: this.endpoint,
      region: "us-east-1",
      credentials: DEV_CREDENTIALS,
      maxAttempts: 1,
      ...options,
    });
  }
}

export function unique(prefix = "js") {
  return `${prefix}-${Math.random().toString(36).slice(2, 10)}${Date.now().toString(36).slice(-4)}`;
}

// Runs fn and returns the service error it throws (fails if it succeeds).
export async function errorOf(fn) {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  throw new Error("expected the call to fail, it succeeded");
}
