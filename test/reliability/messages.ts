// Checking a command's output for "one clear message naming the file and the problem".

const CORPUS_NAME = /bad_\w+\.nii(?:\.gz)?/g;
/** Corpus file and folder names, which spell out the problem they hold. */
const OWN_NAMES = /bad_\w+\.nii(?:\.gz)?|only-\w+/g;

/**
 * True when, right after some mention of one of `refs` (a path as printed), the text up to the end of the line
 * or the next corpus file says `problem`: the message about this file names this problem.
 */
export function namesProblem(output: string, refs: string[], problem: RegExp): boolean {
  for (const ref of refs) {
    const own = ref.split('/').pop()!;
    for (let at = output.indexOf(ref); at >= 0; at = output.indexOf(ref, at + 1)) {
      const rest = output.slice(at + ref.length);
      let end = rest.indexOf('\n');
      if (end < 0) end = rest.length;
      CORPUS_NAME.lastIndex = 0;
      for (let m = CORPUS_NAME.exec(rest); m && m.index < end; m = CORPUS_NAME.exec(rest)) {
        if (m[0] !== own) {
          end = m.index;
          break;
        }
      }
      // The file's own name ("bad_unreadable", "bad_nan_voxels") must not count as saying the problem.
      if (problem.test(rest.slice(0, end).replace(OWN_NAMES, 'FILE'))) return true;
    }
  }
  return false;
}

/** What a person must never see after bad input: a Python or Node stack trace. */
export function hasTraceback(output: string): boolean {
  return /Traceback \(most recent call last\)|^\s+at .+\(.*:\d+:\d+\)$/m.test(output);
}
