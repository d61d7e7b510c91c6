// A strict vendor fake (the workspace's `fakes/` crate, bin `fake-provider`) as a process on a
// loopback port, for end-to-end tests that put a vendor behind the real proxy. The fake answers
// every deviation from the vendor's document with a 4xx and records it; `deviations()` reads
// them back (a test asserts there are none) and `calls()` counts the calls per endpoint.

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";

import { repoRoot } from "./util.mjs";

/** `cargo xtask test` sets this; the default matches its build. */
export const fakeProviderBin = process.env.TRYON_FAKE_PROVIDER_BIN || path.join(repoRoot, "target/debug/fake-provider");

/**
 * Starts `fake-provider --provider <provider>` on a free loopback port, accepting `key`, with
 * tasks that take `taskMs`; resolves once it prints the address it listens on.
 */
export async function startFakeProvider({ provider, key, taskMs }) {
  if (!existsSync(fakeProviderBin)) {
    throw new Error(`fake provider not found at ${fakeProviderBin}: run \`cargo build -p tryon-fakes\` (cargo xtask test does)`);
  }
  const argv = ["--provider", provider, "--port", "0", "--key", key, ...(taskMs ? ["--task-ms", String(taskMs)] : [])];
  const child = spawn(fakeProviderBin, argv, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk) => (output += chunk));
  child.stdout.setEncoding("utf8");
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the ${provider} fake did not say where it listens within 10 s:\n${output}`)), 10_000);
    child.on("exit", (code) => reject(new Error(`the ${provider} fake exited with ${code}:\n${output}`)));
    child.stdout.on("data", (chunk) => {
      output += chunk;
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
  });
  const exited = new Promise((resolve) => child.on("exit", resolve));
  const get = async (what) => (await fetch(`${url}/__${what}`)).json();
  return {
    url,
    /** Every deviation from the vendor's document the fake saw, as sentences. */
    deviations: () => get("deviations"),
    /** Calls so far per endpoint, e.g. `{ create: 1, status: 4 }`. */
    calls: () => get("calls"),
    async stop() {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        await exited;
      }
    },
  };
}
