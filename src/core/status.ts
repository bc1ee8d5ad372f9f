// Exit codes and statuses, once: the names and numbers of CONTRACT.exit_codes (generated from the engine).
import {CONTRACT} from './generated/contract.js';

export type Status = keyof typeof CONTRACT.exit_codes;
export const EXIT = CONTRACT.exit_codes;

/** The status an exit code stands for; a code the contract does not name is a failure. */
export function statusOf(exitCode: number): Status {
  const hit = (Object.entries(EXIT) as Array<[Status, number]>).find(([, code]) => code === exitCode);
  return hit ? hit[0] : 'failed';
}

/** A process's end as one of the contract's exit codes: its own code when the contract knows it; a stop signal is
 * an interruption; anything else (a crash, a spawn failure, an unknown code) a failure. */
export function exitCodeOf(code: number | null, signal: string | null, spawnFailed = false): number {
  if (spawnFailed) return EXIT.failed;
  if (code !== null) return (Object.values(EXIT) as number[]).includes(code) ? code : EXIT.failed;
  return signal === 'SIGINT' || signal === 'SIGTERM' || signal === 'SIGHUP' ? EXIT.interrupted : EXIT.failed;
}

/** The exit code a run_end's status stands for. */
export function codeOfStatus(status: string, exitCode?: number | null): number {
  if (status === 'completed') return EXIT.completed;
  if (status === 'interrupted') return EXIT.interrupted;
  return exitCode || EXIT.failed;
}
