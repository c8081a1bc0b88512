/**
 * Reach benchmark (`npm run bench:reach`): the email and Web Push channels and the ways in of issue 18,
 * on the real stack (identity + notifications + our gateway in this process, startTestStack, events on
 * Redis Streams) with identity and notifications pointed at real protocol peers in this process too:
 * testkit's SMTP mail catcher, its local Web Push service and its OpenID provider.
 *
 *  1. Notification delivery: one user with a verified email and one push subscription. One at a time,
 *     `--interval` apart, a payments.deposit.succeeded.v1 is recorded in a producer's outbox in a
 *     transaction (as payments' use case does) and its relay is kicked after the commit; measured from
 *     the commit to the mail accepted by the SMTP catcher (parsed, answered 250) and to the push request
 *     received, VAPID-checked and decrypted by the push service (answered 201).
 *  2. Passkey sign-in through the gateway: startPasskeySignIn(email) + finishPasskeySignIn with
 *     testkit's software authenticator (its assertion made between the two is not timed).
 *  3. OpenID Connect for a returning user: startSocialSignIn, the provider's login driven as the tests
 *     do (timed apart: it is the provider's work, not ours), completeSocialSignIn (code exchange, JWKS,
 *     ID token checks, session).
 *  4. requestPasswordReset for emails with an account and without, interleaved (ABBA), with medians
 *     and their ratio: the answer should take as long either way (the mail goes in the background).
 *
 * Printed per measurement: n, p50, p99, max (ms); per phase the CPU per wall second of this process
 * (everything above) and of the rest of the machine (PostgreSQL, Redis, anything else).
 *
 * Options (flag or environment variable):
 *   --events=N     BENCH_EVENTS       measured deposit events (200, after 10 not counted)
 *   --interval=MS  BENCH_INTERVAL_MS  between two events (50)
 *   --signins=N    BENCH_SIGNINS      measured passkey and OIDC sign-ins each (100, after 5 not counted)
 *   --resets=N     BENCH_RESETS       measured reset requests per kind, with and without an account (100)
 *   --json=FILE    BENCH_JSON         also write the results as JSON
 *
 * Exit 1 when a reset mail is missing after 30 s or one went to an email without an account.
 */
import { createECDH, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { OutboxRelay, openDatabase, openPersistence } from '@vibestream/platform';
import {
  SoftwareAuthenticator,
  eventually,
  startMailCatcher,
  startPushService,
  startTestOidcProvider,
  startTestStack,
  type GraphQLResult,
  type TestStack,
} from '@vibestream/testkit';
import { identitySubgraph } from '@vibestream/identity';
import { notificationsSubgraph } from '@vibestream/notifications';
import { DepositSucceeded } from '@vibestream/payments/events';
import { fmt, median, pct, table } from '../lib/format.ts';
import { deleteRedisKeys, onCleanup, runBench } from '../lib/lifecycle.ts';
import { numberOption } from '../lib/options.ts';
import { cpuSeconds, machineBusySeconds } from '../lib/proc.ts';

const { values: flags } = parseArgs({
  options: {
    events: { type: 'string' },
    interval: { type: 'string' },
    signins: { type: 'string' },
    resets: { type: 'string' },
    json: { type: 'string' },
  },
});
const EVENTS = numberOption(flags.events, 'events', 'BENCH_EVENTS', 200, 1);
const INTERVAL_MS = numberOption(flags.interval, 'interval', 'BENCH_INTERVAL_MS', 50, 0);
const SIGNINS = numberOption(flags.signins, 'signins', 'BENCH_SIGNINS', 100, 1);
const RESETS = numberOption(flags.resets, 'resets', 'BENCH_RESETS', 100, 1);
const jsonFile = flags.json ?? process.env.BENCH_JSON;
const WARMUP_EVENTS = 10;
const WARMUP_SIGNINS = 5;
const ACCOUNTS = 5;

const REGISTER = `mutation Register($input: RegisterInput!) { register(input: $input) { accessToken user { id } } }`;
const REQUEST_VERIFICATION = `mutation RequestEmailVerification { requestEmailVerification }`;
const VERIFY = `mutation VerifyEmail($token: String!) { verifyEmail(token: $token) { id emailVerified } }`;
const REGISTER_PUSH = `mutation RegisterPushSubscription($input: PushSubscriptionInput!) { registerPushSubscription(input: $input) { id } }`;
const START_PASSKEY_REGISTRATION = `mutation StartPasskeyRegistration { startPasskeyRegistration }`;
const FINISH_PASSKEY_REGISTRATION = `mutation FinishPasskeyRegistration($response: String!, $name: String) {
  finishPasskeyRegistration(response: $response, name: $name) { id }
}`;
const START_PASSKEY = `mutation StartPasskeySignIn($email: String) { startPasskeySignIn(email: $email) { challengeId options } }`;
const FINISH_PASSKEY = `mutation FinishPasskeySignIn($challengeId: ID!, $response: String!) {
  finishPasskeySignIn(challengeId: $challengeId, response: $response) { accessToken user { id } }
}`;
const START_SOCIAL = `mutation StartSocialSignIn($provider: String!, $redirectUri: String!) {
  startSocialSignIn(provider: $provider, redirectUri: $redirectUri) { authorizationUrl state }
}`;
const COMPLETE_SOCIAL = `mutation CompleteSocialSignIn($state: String!, $code: String!) {
  completeSocialSignIn(state: $state, code: $code) { accessToken created user { id } }
}`;
const REQUEST_RESET = `mutation RequestPasswordReset($email: String!) { requestPasswordReset(email: $email) }`;

/** Generous limits: the bench signs in and asks for resets from one address far more often than a person would. */
const MANY = '1000000';
const REDIRECT_URI = 'http://127.0.0.1:5173/auth/callback';
const OIDC_CLIENT = { clientId: 'vibestream-bench', clientSecret: 'bench-secret-0123456789abcdef', redirectUris: [REDIRECT_URI] };

interface Figures {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentile. */
function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function figures(xs: number[]): Figures {
  const sorted = [...xs].sort((a, b) => a - b);
  return { n: xs.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1)! };
}

/** CPU per wall second of this process and of the rest of the machine while `work` ran. */
async function withCpu<T>(work: () => Promise<T>): Promise<{ value: T; bench: number | null; rest: number | null }> {
  const [cpu0, busy0, t0] = [cpuSeconds(process.pid), machineBusySeconds(), performance.now()];
  const value = await work();
  const wall = (performance.now() - t0) / 1000;
  const [cpu1, busy1] = [cpuSeconds(process.pid), machineBusySeconds()];
  const bench = cpu0 !== null && cpu1 !== null ? (cpu1 - cpu0) / wall : null;
  const rest = bench !== null && busy0 !== null && busy1 !== null ? (busy1 - busy0) / wall - bench : null;
  return { value, bench, rest };
}

function ok<T>(res: GraphQLResult<T>, what: string): T {
  if (res.errors?.length || !res.data) throw new Error(`${what} failed: ${JSON.stringify(res.errors ?? res.status)}`);
  return res.data;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A P-256 key pair as VAPID wants it (base64url: the uncompressed public point and the 32-byte private key). */
function vapidKeys() {
  const ecdh = createECDH('prime256v1');
  return { publicKey: ecdh.generateKeys().toString('base64url'), privateKey: ecdh.getPrivateKey().toString('base64url') };
}

async function register(stack: TestStack, email: string, displayName: string) {
  const data = ok(
    await stack.gql<{ register: { accessToken: string; user: { id: string } } }>(REGISTER, {
      input: { email, password: 'a-long-bench-password', displayName },
    }),
    'register',
  );
  return { userId: data.register.user.id, token: data.register.accessToken, email };
}

async function main(): Promise<number> {
  const load0 = loadavg();
  const catcher = await startMailCatcher();
  onCleanup(() => catcher.close());
  const push = await startPushService();
  onCleanup(() => push.close());
  const oidc = await startTestOidcProvider({ clients: [OIDC_CLIENT] });
  onCleanup(() => oidc.stop());
  const vapid = vapidKeys();
  const stack = await startTestStack('bench-reach', [identitySubgraph, notificationsSubgraph], {
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
    SMTP_URL: catcher.smtpUrl,
    MAIL_FROM: 'VibeStream <no-reply@vibestream.test>',
    EMAIL_UNSUBSCRIBE_SECRET: 'bench-unsubscribe-secret-0123456789abcdef',
    VAPID_PUBLIC_KEY: vapid.publicKey,
    VAPID_PRIVATE_KEY: vapid.privateKey,
    VAPID_SUBJECT: 'mailto:bench@vibestream.test',
    OIDC_PROVIDERS: JSON.stringify([
      { id: 'benchid', displayName: 'Bench ID', issuer: oidc.issuer, clientId: OIDC_CLIENT.clientId, clientSecret: OIDC_CLIENT.clientSecret },
    ]),
    OIDC_REDIRECT_URIS: REDIRECT_URI,
    OIDC_START_MAX_PER_ADDRESS: MANY,
    PASSKEY_SIGNIN_MAX_PER_ADDRESS: MANY,
    PASSWORD_RESET_MAX_PER_EMAIL: MANY,
    PASSWORD_RESET_MAX_PER_ADDRESS: MANY,
    EMAIL_VERIFICATION_MAX_PER_USER: MANY,
  });
  onCleanup(() => deleteRedisKeys(stack.env.REDIS_URL!, stack.env.REDIS_PREFIX!));
  onCleanup(() => stack.stop());
  const rows: string[][] = [['measurement', 'n', 'p50 ms', 'p99 ms', 'max ms', 'bench CPU', 'rest CPU']];
  const results: Record<string, Figures> = {};
  const add = (name: string, xs: number[], cpu?: { bench: number | null; rest: number | null }) => {
    const f = figures(xs);
    results[name] = f;
    rows.push([name, String(f.n), fmt(f.p50, 1), fmt(f.p99, 1), fmt(f.max, 1), ...(cpu ? [pct(cpu.bench), pct(cpu.rest)] : ['', ''])]);
  };

  // --- 1. Notification delivery: a listener with a verified email and one push subscription.
  const listener = await register(stack, `listener-${randomUUID().slice(0, 8)}@example.com`, 'Bench Listener');
  ok(await stack.gql(REQUEST_VERIFICATION, {}, { token: listener.token }), 'requestEmailVerification');
  const verification = await catcher.waitForMail({ to: listener.email, subject: 'Verify your email' }, 30_000);
  const link = verification.links.find((l) => l.includes('/verify-email?token='));
  if (!link) throw new Error('the verification mail has no /verify-email link');
  ok(await stack.gql(VERIFY, { token: new URL(link).searchParams.get('token') }), 'verifyEmail');
  const contact = await eventually(
    async () =>
      (await stack.db.query<{ email_verified: boolean }>('select email_verified from notifications.user_contacts where user_id = $1', [listener.userId]))
        .rows[0],
    (c) => c?.email_verified === true,
    30_000,
  );
  if (!contact?.email_verified) throw new Error("notifications did not project the listener's verified email within 30 s");
  const browser = push.createSubscription({ applicationServerKey: vapid.publicKey });
  ok(
    await stack.gql(REGISTER_PUSH, { input: { endpoint: browser.endpoint, p256dh: browser.p256dh, auth: browser.auth } }, { token: listener.token }),
    'registerPushSubscription',
  );

  const producer = await openDatabase({ url: stack.env.DATABASE_URL!, schema: 'bench_payments', entities: [], migrations: [], log: stack.log });
  onCleanup(() => producer.close());
  const producerDb = openPersistence(producer, { source: 'payments' });
  const relay = new OutboxRelay(producer, stack.infra.transport, stack.log, { intervalMs: 250 });
  relay.start();
  onCleanup(() => relay.stop());

  const toMail: number[] = [];
  const toPush: number[] = [];
  const toBoth: number[] = [];
  const deliver = async (i: number) => {
    await producerDb.useCase(async (tx) => {
      tx.outbox.record(DepositSucceeded, {
        depositId: randomUUID(),
        userId: listener.userId,
        amountCents: 100 + i,
        method: 'CARD',
        succeededAt: new Date().toISOString(),
      });
    });
    const committedAt = performance.now();
    relay.kick();
    const [mailAt, pushAt] = await Promise.all([
      catcher.waitForMail({ to: listener.email, subject: 'Deposit received', count: i }, 30_000).then(() => performance.now()),
      push.waitForPush(browser.endpoint, { count: i, timeoutMs: 30_000 }).then(() => performance.now()),
    ]);
    if (i >= WARMUP_EVENTS) {
      toMail.push(mailAt - committedAt);
      toPush.push(pushAt - committedAt);
      toBoth.push(Math.max(mailAt, pushAt) - committedAt);
    }
    if (INTERVAL_MS > 0) await sleep(INTERVAL_MS);
  };
  for (let i = 0; i < WARMUP_EVENTS; i++) await deliver(i);
  const delivery = await withCpu(async () => {
    for (let i = WARMUP_EVENTS; i < WARMUP_EVENTS + EVENTS; i++) await deliver(i);
  });
  add('event -> email accepted (SMTP)', toMail);
  add('event -> push decrypted', toPush);
  add('event -> both', toBoth, delivery);

  // --- 2. Passkey sign-in through the gateway.
  const passkeyUser = await register(stack, `passkey-${randomUUID().slice(0, 8)}@example.com`, 'Bench Passkey');
  const device = new SoftwareAuthenticator(stack.publicUrl);
  const creation = ok(
    await stack.gql<{ startPasskeyRegistration: string }>(START_PASSKEY_REGISTRATION, {}, { token: passkeyUser.token }),
    'startPasskeyRegistration',
  );
  const { response: created } = device.register(creation.startPasskeyRegistration);
  ok(await stack.gql(FINISH_PASSKEY_REGISTRATION, { response: created, name: 'Bench' }, { token: passkeyUser.token }), 'finishPasskeyRegistration');
  const passkeyStart: number[] = [];
  const passkeyFinish: number[] = [];
  const passkeyTotal: number[] = [];
  const passkeySignIn = async (i: number) => {
    const t0 = performance.now();
    const start = ok(
      await stack.gql<{ startPasskeySignIn: { challengeId: string; options: string } }>(START_PASSKEY, { email: passkeyUser.email }),
      'startPasskeySignIn',
    );
    const t1 = performance.now();
    const assertion = device.assert(start.startPasskeySignIn.options);
    const t2 = performance.now();
    const done = ok(
      await stack.gql<{ finishPasskeySignIn: { user: { id: string } } }>(FINISH_PASSKEY, {
        challengeId: start.startPasskeySignIn.challengeId,
        response: assertion,
      }),
      'finishPasskeySignIn',
    );
    const t3 = performance.now();
    if (done.finishPasskeySignIn.user.id !== passkeyUser.userId) throw new Error('finishPasskeySignIn signed in someone else');
    if (i >= WARMUP_SIGNINS) {
      passkeyStart.push(t1 - t0);
      passkeyFinish.push(t3 - t2);
      passkeyTotal.push(t1 - t0 + (t3 - t2));
    }
  };
  const passkeys = await withCpu(async () => {
    for (let i = 0; i < WARMUP_SIGNINS + SIGNINS; i++) await passkeySignIn(i);
  });
  add('passkey: startPasskeySignIn', passkeyStart);
  add('passkey: finishPasskeySignIn', passkeyFinish);
  add('passkey: start + finish', passkeyTotal, passkeys);

  // --- 3. OpenID Connect, a returning user (the first sign-in creates the account, not counted).
  const sub = `bench-${randomUUID()}`;
  oidc.setAccount(sub, { email: `${sub}@example.com`, email_verified: true, name: 'Bench Social' });
  const socialStart: number[] = [];
  const socialProvider: number[] = [];
  const socialComplete: number[] = [];
  const socialTotal: number[] = [];
  let socialUserId: string | null = null;
  const socialSignIn = async (i: number) => {
    const t0 = performance.now();
    const start = ok(
      await stack.gql<{ startSocialSignIn: { authorizationUrl: string; state: string } }>(START_SOCIAL, { provider: 'benchid', redirectUri: REDIRECT_URI }),
      'startSocialSignIn',
    );
    const t1 = performance.now();
    const back = await oidc.authorize(start.startSocialSignIn.authorizationUrl, sub);
    const code = back.searchParams.get('code');
    if (back.searchParams.get('state') !== start.startSocialSignIn.state || !code)
      throw new Error(`the provider redirected back without the state or a code: ${back.href}`);
    const t2 = performance.now();
    const done = ok(
      await stack.gql<{ completeSocialSignIn: { created: boolean; user: { id: string } } }>(COMPLETE_SOCIAL, { state: start.startSocialSignIn.state, code }),
      'completeSocialSignIn',
    );
    const t3 = performance.now();
    socialUserId ??= done.completeSocialSignIn.user.id;
    if (done.completeSocialSignIn.user.id !== socialUserId || (i > 0 && done.completeSocialSignIn.created))
      throw new Error('a returning sign-in did not reach the same account');
    if (i > WARMUP_SIGNINS) {
      socialStart.push(t1 - t0);
      socialProvider.push(t2 - t1);
      socialComplete.push(t3 - t2);
      socialTotal.push(t1 - t0 + (t3 - t2));
    }
  };
  const social = await withCpu(async () => {
    for (let i = 0; i <= WARMUP_SIGNINS + SIGNINS; i++) await socialSignIn(i);
  });
  add('OIDC: startSocialSignIn', socialStart);
  add('OIDC: provider login (not ours)', socialProvider);
  add('OIDC: completeSocialSignIn', socialComplete);
  add('OIDC: start + complete', socialTotal, social);

  // --- 4. requestPasswordReset with an account and without, interleaved A B B A.
  const tag = randomUUID().slice(0, 8);
  const withAccount: string[] = [];
  for (let k = 0; k < ACCOUNTS; k++) withAccount.push((await register(stack, `reset-${tag}-${k}@example.com`, `Reset ${k}`)).email);
  const withoutAccount = Array.from({ length: ACCOUNTS }, (_, k) => `nobody-${tag}-${k}@example.com`);
  const resetWith: number[] = [];
  const resetWithout: number[] = [];
  const reset = async (email: string, into: number[] | null) => {
    const t0 = performance.now();
    const data = ok(await stack.gql<{ requestPasswordReset: boolean }>(REQUEST_RESET, { email }), 'requestPasswordReset');
    into?.push(performance.now() - t0);
    if (data.requestPasswordReset !== true) throw new Error('requestPasswordReset did not answer true');
  };
  for (let k = 0; k < ACCOUNTS; k++) {
    await reset(withAccount[k]!, null);
    await reset(withoutAccount[k]!, null);
  }
  const resets = await withCpu(async () => {
    for (let i = 0; i < RESETS; i++) {
      const pair: [string, number[]][] = [
        [withAccount[i % ACCOUNTS]!, resetWith],
        [withoutAccount[i % ACCOUNTS]!, resetWithout],
      ];
      for (const [email, into] of i % 2 ? pair.reverse() : pair) await reset(email, into);
    }
  });
  add('reset: email with an account', resetWith);
  add('reset: email without one', resetWithout, resets);
  const ratio = median(resetWith) / median(resetWithout);
  // The mail is a job run a second or two later: every request with an account mails once, the others never.
  const expectedMails = ACCOUNTS + RESETS;
  const mailsTo = (emails: string[]) => catcher.messages().filter((m) => m.to.some((to) => emails.includes(to))).length;
  const resetMails = await eventually(
    async () => mailsTo(withAccount),
    (n) => n >= expectedMails,
    30_000,
  );
  const strayMails = mailsTo(withoutAccount);

  const load1 = loadavg();
  console.log(
    `Reach: ${EVENTS} deposit events one every ~${INTERVAL_MS} ms after each is delivered (after ${WARMUP_EVENTS} not counted); ${SIGNINS} passkey and OIDC sign-ins each (after ${WARMUP_SIGNINS}); ${RESETS} reset requests per kind`,
  );
  console.log(table(rows));
  console.log(`\nrequestPasswordReset median with an account / without: ${fmt(median(resetWith), 1)} / ${fmt(median(resetWithout), 1)} ms = ${fmt(ratio, 2)}`);
  console.log(`reset mails caught: ${resetMails} of ${expectedMails} to the emails with an account, ${strayMails} to those without`);
  console.log(`load average (1 min) at start ${fmt(load0[0]!, 2)}, at end ${fmt(load1[0]!, 2)}`);
  if (jsonFile) {
    writeFileSync(
      jsonFile,
      JSON.stringify(
        {
          events: EVENTS,
          intervalMs: INTERVAL_MS,
          signins: SIGNINS,
          resets: RESETS,
          results,
          resetMedianRatio: ratio,
          loadAverage: { start: load0, end: load1 },
        },
        null,
        2,
      ),
    );
  }
  return resetMails === expectedMails && strayMails === 0 ? 0 : 1;
}

runBench(main);
