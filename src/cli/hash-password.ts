//! `xnat-gateway hash-password NAME`: a line for http.passwordFile, the password read from stdin.
import { createInterface } from 'node:readline';
import { hashPassword } from '../status/credentials.ts';
import { ExitCode } from './exit-codes.ts';

export const HASH_PASSWORD_USAGE = `  xnat-gateway hash-password NAME          print a http.passwordFile line (the password is read from stdin, twice on a terminal)`;

/** Reads one line without echoing it when stdin is a terminal. */
function readSecret(prompt: string): Promise<string> {
  return new Promise((resolve) => {
    const tty = process.stdin.isTTY;
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: tty });
    if (tty) {
      process.stderr.write(prompt);
      // Swallow the echo: readline writes typed characters through _writeToOutput.
      (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = () => undefined;
    }
    rl.once('line', (line) => {
      if (tty) {process.stderr.write('\n');}
      // Resolve before close(): close emits 'close' at once, which would otherwise answer ''.
      resolve(line);
      rl.close();
    });
    rl.once('close', () => { resolve(''); });
  });
}

export async function hashPasswordCommand(args: string[]): Promise<void> {
  const [name] = args;
  if (args.length !== 1 || !name || !/^[A-Za-z0-9._@-]{1,64}$/.test(name)) {
    console.error(`${HASH_PASSWORD_USAGE}\nNAME: 1 to 64 letters, digits, '.', '_', '@' or '-'.`);
    process.exitCode = ExitCode.USAGE;
    return;
  }
  const password = await readSecret('Password: ');
  if (process.stdin.isTTY && (await readSecret('Again: ')) !== password) {
    console.error('The passwords differ; nothing was printed.');
    process.exitCode = ExitCode.USAGE;
    return;
  }
  if (password.length < 12) {
    console.error('A console password needs at least 12 characters.');
    process.exitCode = ExitCode.USAGE;
    return;
  }
  console.log(`${name}:${await hashPassword(password)}`);
}
