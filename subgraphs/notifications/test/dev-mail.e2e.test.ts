// Development without SMTP_URL, as `npm start` runs: notification emails go to
// VIBESTREAM_DATA_DIR/mail/*.eml (the README says to read them there), the unsubscribe key is
// generated once into VIBESTREAM_DATA_DIR/keys.
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eventually, publishEvent, startTestStack, type TestStack } from '@vibestream/testkit';
import { UserContactChanged } from '@vibestream/contracts/identity';
import { DepositSucceeded } from '@vibestream/contracts/payments';
import { notificationsSubgraph } from '../src/index.ts';

let stack: TestStack;
let dataDir: string;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'vs-dev-mail-'));
  stack = await startTestStack('notif-devmail', [notificationsSubgraph], { NODE_ENV: 'development', VIBESTREAM_DATA_DIR: dataDir, SMTP_URL: '' });
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

it('writes each notification email to VIBESTREAM_DATA_DIR/mail as an .eml file with its links', async () => {
  const userId = randomUUID();
  await publishEvent(stack, UserContactChanged, {
    userId,
    email: 'dev@example.com',
    emailVerified: true,
    displayName: 'Dev Person',
    version: 1,
    changedAt: new Date().toISOString(),
  });
  await eventually(
    async () => (await stack.db.query('select 1 from notifications.user_contacts where user_id = $1', [userId])).rowCount,
    (n) => n === 1,
  );
  await publishEvent(stack, DepositSucceeded, { depositId: randomUUID(), userId, amountCents: 1500, method: 'CARD', succeededAt: new Date().toISOString() });
  const mailDir = join(dataDir, 'mail');
  const files = await eventually(
    async () => (existsSync(mailDir) ? await readdir(mailDir) : []),
    (found) => found.length === 1,
    15_000,
  );
  expect(files).toHaveLength(1);
  expect(files[0]).toMatch(/\.eml$/);
  // Header lines unfolded (RFC 5322: a long header continues on lines that start with a space).
  const raw = (await readFile(join(mailDir, files[0]!), 'utf8')).replace(/\r?\n[ \t]+/g, ' ');
  expect(raw).toMatch(/^Subject: Deposit received$/m);
  expect(raw).toMatch(/^To: dev@example\.com$/m);
  expect(raw).toContain(`List-Unsubscribe: <${stack.publicUrl}/email/unsubscribe?token=`);
  expect(raw).toContain(`${stack.publicUrl}/notifications`);
  expect(existsSync(join(dataDir, 'keys', 'email-unsubscribe.secret'))).toBe(true);
});
