/**
 * `-` means standard input for an input argument and standard output for `-o`, in every command.
 * A command never reads an archive from a terminal (it would wait silently) nor writes binary to
 * one (it would garble the screen): both refuse with one line.
 */
import { OcitoolError } from '../errors.js';

export const STDIO = '-';

/** Refuses when an archive would be read from a terminal; `what` names the argument ("ARCHIVE", "-i"). */
export function checkStdinReadable(what: string, stdin: { isTTY?: boolean } = process.stdin): void {
  if (stdin.isTTY) throw new OcitoolError('USAGE', `refusing to read ${what} from a terminal: pipe or redirect a file to stdin, or give a file name`);
}

/** Refuses when binary output would go to a terminal. */
export function checkStdoutWritable(what: string, stdout: { isTTY?: boolean }): void {
  if (stdout.isTTY) throw new OcitoolError('USAGE', `refusing to write ${what} to a terminal: use -o FILE or redirect stdout`);
}
