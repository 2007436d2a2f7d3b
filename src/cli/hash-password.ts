//! `xnat-gateway hash-password NAME`: a line for http.passwordFile, the password read from stdin.
import { createInterface } from 'node:readline';
import { hashPassword } from '../status/credentials.ts';
import { CommandError, usageError, type CommandSpec } from './command.ts';
import { ExitCode } from './exit-codes.ts';

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
      if (tty) {
        process.stderr.write('\n');
      }
      // Resolve before close(): close emits 'close' at once, which would otherwise answer ''.
      resolve(line);
      rl.close();
    });
    rl.once('close', () => {
      resolve('');
    });
  });
}

export const HASH_PASSWORD_COMMAND: CommandSpec = {
  name: 'hash-password',
  summary: 'print a http.passwordFile line for a console administrator',
  usage: ['hash-password NAME'],
  details:
    'The password is read from stdin (twice, without echo, on a terminal); at least 12 characters. NAME: 1 to 64 letters, digits, ".", "_", "@" or "-".',
  options: {},
  // A password that is too short, or typed differently twice, is a usage error (2) like a bad NAME.
  exitCodes: [],
  async run({ positionals }) {
    const [name] = positionals;
    if (positionals.length !== 1 || !name || !/^[A-Za-z0-9._@-]{1,64}$/.test(name)) {
      throw usageError(HASH_PASSWORD_COMMAND, 'NAME: 1 to 64 letters, digits, ".", "_", "@" or "-".');
    }
    const password = await readSecret('Password: ');
    if (process.stdin.isTTY && (await readSecret('Again: ')) !== password) {
      throw new CommandError(ExitCode.USAGE, 'The passwords differ; nothing was printed.');
    }
    if (password.length < 12) {
      throw new CommandError(ExitCode.USAGE, 'A console password needs at least 12 characters.');
    }
    console.log(`${name}:${await hashPassword(password)}`);
  },
};
