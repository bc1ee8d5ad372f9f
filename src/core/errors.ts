// The two errors a command or the UI reports to people: bad input (exit 2) and a failure that is not their input (1).
// Light on purpose: src/cli.tsx loads it at start-up.

/** Bad usage, a missing path, an invalid config, a refused input: one line, exit 2. */
export class UsageError extends Error {
  command?: string;
  /** Extra lines (a hint) printed after the message. */
  hint?: string;
}

/** Something went wrong that is not the user's input: one line, exit 1. */
export class Failure extends Error {
  command?: string;
  hint?: string;
}
