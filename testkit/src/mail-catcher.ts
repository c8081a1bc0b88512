// A real SMTP server (smtp-server) that keeps what it receives, parsed (mailparser): the peer a
// test sends email to and reads it back from, following the links in it.
import { simpleParser, type AddressObject } from 'mailparser';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';

export interface CaughtMail {
  from: string;
  to: string[];
  subject: string;
  text: string;
  html: string;
  /** Header names in lower case; structured values as mailparser gives them, list headers as their raw text. */
  headers: Map<string, unknown>;
  /** The raw value of each header line (`list-unsubscribe` -> `<https://...>, <mailto:...>`). */
  rawHeaders: Record<string, string>;
  /** Every http(s) link in the HTML (href) and the text, each once. */
  links: string[];
  raw: string;
  receivedAt: Date;
}

/** A failure the next messages get: an SMTP reply code (e.g. 550, 451) or a dropped connection. */
export type MailFailure = number | 'drop';

export interface MailCatcher {
  port: number;
  /** smtp://127.0.0.1:<port> for SMTP_URL. */
  smtpUrl: string;
  messages(): CaughtMail[];
  /**
   * The first message (already here or still to come) to `to` (and whose subject contains `subject`);
   * with `count`, the first after that many earlier such messages.
   */
  waitForMail(match: { to: string; subject?: string; count?: number }, timeoutMs?: number): Promise<CaughtMail>;
  /** The next `count` messages fail this way (at MAIL FROM) instead of being received. */
  failNext(failure: MailFailure, count?: number): void;
  /** Deliveries tried, including failed ones. */
  attempts(): number;
  /** SMTP connections opened to this server so far (a pooled client reuses one for several messages). */
  connections(): number;
  /** Closes every open SMTP connection from the server's side (what a server does to an idle client). */
  dropConnections(): void;
  close(): Promise<void>;
}

function addresses(value: AddressObject | AddressObject[] | undefined): string[] {
  const list = Array.isArray(value) ? value : value ? [value] : [];
  return list.flatMap((a) => a.value.map((v) => (v.address ?? '').toLowerCase())).filter(Boolean);
}

function linksOf(html: string, text: string): string[] {
  const found: string[] = [];
  for (const m of html.matchAll(/href="([^"]+)"/g)) found.push(m[1]!.replace(/&amp;/g, '&'));
  for (const m of text.matchAll(/https?:\/\/[^\s<>"')\]]+/g)) found.push(m[0]);
  return [...new Set(found.filter((l) => /^https?:\/\//.test(l)))];
}

function rawHeaderLines(raw: string): Record<string, string> {
  const head = raw.split(/\r?\n\r?\n/, 1)[0] ?? '';
  const unfolded = head.replace(/\r?\n[ \t]+/g, ' ');
  const out: Record<string, string> = {};
  for (const line of unfolded.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return out;
}

export async function startMailCatcher(options: { port?: number } = {}): Promise<MailCatcher> {
  const caught: CaughtMail[] = [];
  const waiters = new Set<() => void>();
  const failures: MailFailure[] = [];
  let tried = 0;
  let connected = 0;

  const server: SMTPServer = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    size: 10 * 1024 * 1024,
    closeTimeout: 1000,
    onConnect(_session, callback) {
      connected++;
      callback();
    },
    onMailFrom(_address, session: SMTPServerSession, callback) {
      tried++;
      const failure = failures.shift();
      if (failure === undefined) return callback();
      if (failure === 'drop') {
        for (const connection of server.connections as Set<{ id: string; _socket?: { destroy(): void } }>) {
          if (connection.id === session.id) connection._socket?.destroy();
        }
        return;
      }
      const error = Object.assign(new Error(failure >= 500 ? 'Mailbox unavailable' : 'Try again later'), { responseCode: failure });
      callback(error);
    },
    onData(stream: SMTPServerDataStream, _session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        simpleParser(raw).then(
          (parsed) => {
            const html = typeof parsed.html === 'string' ? parsed.html : '';
            const text = parsed.text ?? '';
            caught.push({
              from: addresses(parsed.from)[0] ?? '',
              to: addresses(parsed.to),
              subject: parsed.subject ?? '',
              text,
              html,
              headers: parsed.headers as Map<string, unknown>,
              rawHeaders: rawHeaderLines(raw),
              links: linksOf(html, text),
              raw,
              receivedAt: new Date(),
            });
            for (const wake of [...waiters]) wake();
            callback();
          },
          (error: Error) => callback(error),
        );
      });
    },
  });
  server.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  const find = (match: { to: string; subject?: string; count?: number }) =>
    caught.filter((m) => m.to.includes(match.to.toLowerCase()) && (match.subject === undefined || m.subject.includes(match.subject)))[match.count ?? 0];

  return {
    port,
    smtpUrl: `smtp://127.0.0.1:${port}`,
    messages: () => [...caught],
    attempts: () => tried,
    connections: () => connected,
    dropConnections() {
      for (const connection of server.connections as Set<{ _socket?: { destroy(): void } }>) connection._socket?.destroy();
    },
    failNext(failure, count = 1) {
      for (let i = 0; i < count; i++) failures.push(failure);
    },
    waitForMail(match, timeoutMs = 10_000) {
      const found = find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(
              `no mail${match.count ? ` #${match.count + 1}` : ''} to ${match.to}${match.subject ? ` about "${match.subject}"` : ''} within ${timeoutMs} ms (${caught.length} caught)`,
            ),
          );
        }, timeoutMs);
        const check = () => {
          const mail = find(match);
          if (!mail) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(mail);
        };
        waiters.add(check);
      });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
