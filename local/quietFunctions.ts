/**
 * Imported first by the local host's entry points: outside the Functions host, `app.*` registers
 * nothing and says so once per function. Here the local host plays the runtime and calls the
 * handlers itself, so those two notices are noise; every other warning still shows.
 */
const TEST_MODE = /"@azure\/functions" package (?:to|is in) test mode/;
const warn = console.warn.bind(console);
console.warn = (...args: unknown[]) => {
  if (typeof args[0] === "string" && TEST_MODE.test(args[0])) return;
  warn(...args);
};
