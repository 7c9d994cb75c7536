import { readFileSync } from "node:fs";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

/** Bytes this process has read through read(2)-like calls, sockets included (Linux /proc/self/io). */
export function bytesRead(): number {
  const match = /^rchar:\s*(\d+)$/m.exec(readFileSync("/proc/self/io", "utf8"));
  if (!match) throw new Error("/proc/self/io has no rchar line");
  return Number(match[1]);
}

/**
 * Peak resident set size of this process so far, in bytes: VmHWM, which starts afresh with the
 * process's own address space (getrusage's maxrss carries the parent's peak across fork and exec).
 */
export function peakRss(): number {
  const match = /^VmHWM:\s*(\d+) kB$/m.exec(readFileSync("/proc/self/status", "utf8"));
  if (!match) throw new Error("/proc/self/status has no VmHWM line");
  return Number(match[1]) * 1024;
}

/**
 * Runs a bench worker in its own Node process, so that its bytes read and peak memory are its own,
 * and returns the JSON it prints last: a TypeScript file beside this one (through the tsx loader), or
 * a built one (an absolute path to a .js file, run by Node alone: no loader thread, no code
 * transformed on load). `prefix` runs it under another command (taskset, to pin it to one core).
 */
export async function runWorker<T>(file: string, env: Record<string, string>, args: string[] = [], prefix: string[] = []): Promise<T> {
  const command = file.endsWith(".js")
    ? [...prefix, process.execPath, file, ...args]
    : [...prefix, process.execPath, "--import", "tsx", fileURLToPath(new URL(file, import.meta.url)), ...args];
  const child = spawn(command[0]!, command.slice(1), {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let output = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  const last = output.trim().split("\n").pop() ?? "";
  if (code !== 0) throw new Error(`bench worker ${file} exited with ${code}: ${last}`);
  return JSON.parse(last) as T;
}

export function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}
