import { Writable } from 'node:stream';
import readline from 'node:readline';
import { RequestContext } from '@mikro-orm/core';
import { loadConfig } from '../config';
import { migrateWithOwnConnection, provideDatabase, withStartupLock } from '../db/database';
import { parse } from '../http/validate';
import { DomainError } from '../shared/errors';
import { AccountService } from './account.service';
import { registerForm } from './accounts.routes';
import { STAFF_ROLE_LABELS, STAFF_ROLES, type StaffRole } from './staff-permissions';

/**
 * `npm run staff:create -- --email EMAIL [--name NAME] [--role administrator|order_clerk]`: creates a staff user (the
 * first one of a real shop, and any later one); an administrator unless `--role order_clerk`. The password is asked for twice without echo on a terminal, or read from the first line of stdin
 * (`echo "$PW" | npm run staff:create -- --email …`). Works on DATABASE_URL, or on the embedded database (the running
 * one when `npm start` runs). Exit code 0 when created, 1 otherwise, with the reason.
 */
function usage(): never {
  console.error('usage: npm run staff:create -- --email EMAIL [--name NAME] [--role administrator|order_clerk]   (password: prompted, or the first line of stdin)');
  process.exit(1);
}

function parseArgs(args: string[]): { email: string; name?: string; staffRole: StaffRole } {
  let email: string | undefined;
  let name: string | undefined;
  let staffRole: StaffRole = 'administrator';
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--email') email = args[++i] ?? usage();
    else if (args[i] === '--name') name = args[++i] ?? usage();
    else if (args[i] === '--role') {
      const role = args[++i];
      staffRole = STAFF_ROLES.find((r) => r === role) ?? usage();
    }
    else usage();
  }
  return email ? { email, name, staffRole } : usage();
}

async function readPassword(): Promise<string> {
  if (!process.stdin.isTTY) {
    let input = '';
    for await (const chunk of process.stdin) input += String(chunk);
    return input.split(/\r?\n/)[0];
  }
  const first = await askHidden('Password (at least 10 characters): ');
  const again = await askHidden('Repeat the password: ');
  if (first !== again) throw new DomainError('VALIDATION', 'The two passwords differ.');
  return first;
}

/** Asks on the terminal without echoing what is typed. */
function askHidden(question: string): Promise<string> {
  let muted = false;
  const output = new Writable({ write: (chunk, _enc, done) => { if (!muted) process.stdout.write(chunk); done(); } });
  const rl = readline.createInterface({ input: process.stdin, output, terminal: true });
  return new Promise((resolve) => {
    rl.question(question, (answer) => {
      rl.close();
      process.stdout.write('\n');
      resolve(answer);
    });
    muted = true;
  });
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const config = loadConfig(process.env, { serving: false });
  const password = await readPassword();
  const form = parse(registerForm, { email: args.email, name: args.name ?? args.email.split('@')[0], password });
  const db = await provideDatabase(config, { reuseRunning: true });
  try {
    // A new database is migrated first, so the first staff user can be created before the first start.
    await withStartupLock(db.url, () => migrateWithOwnConnection(db.url, async (orm) => {
      const user = await RequestContext.create(orm.em, () => new AccountService(orm).register(form, 'staff', args.staffRole));
      console.log(`Staff user ${user.email} created (${STAFF_ROLE_LABELS[args.staffRole].toLowerCase()}); they can log in at ${config.baseUrl}/login`);
    }));
  } finally {
    await db.embedded?.stop();
  }
}

main().catch((e) => {
  console.error(e instanceof DomainError ? e.message : e);
  process.exit(1);
});
