// The command line of a run as a user can paste it into a POSIX shell, for reports.

// Characters that never need quoting in a POSIX shell word.
const plainWord = /^[A-Za-z0-9_\-+=.,/:@%]+$/;

/** Returns `elitekv` followed by `args`, each quoted with single quotes when the shell would split or expand it. */
export function formatCommandLine(args: readonly string[]): string {
  return ["elitekv", ...args.map(quoteShellWord)].join(" ");
}

function quoteShellWord(word: string): string {
  if (plainWord.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}
