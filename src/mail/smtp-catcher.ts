import type { Readable } from 'node:stream';
import { SMTPServer } from 'smtp-server';
import { simpleParser } from 'mailparser';

export interface CaughtMessage {
  from: string; to: string; subject: string; html: string; text: string; headers: Map<string, unknown>;
  attachments: { filename: string; contentType: string; content: Buffer }[];
}

type SmtpListener = { url: string; port: number; stop(): Promise<void> };

/**
 * A real SMTP server on loopback that accepts every mail. The tests read what arrives; `npm start` without
 * SMTP_URL stores the mails so staff can read them in the admin.
 */
export function startSmtpCatcher(onMail: (m: CaughtMessage) => void | Promise<void>, port = 0): Promise<SmtpListener> {
  return listenSmtp(port, (stream, done) => {
    simpleParser(stream)
      .then(async (parsed) => {
        const to = Array.isArray(parsed.to) ? parsed.to.map((a) => a.text).join(', ') : parsed.to?.text ?? '';
        await onMail({ from: parsed.from?.text ?? '', to, subject: parsed.subject ?? '', html: typeof parsed.html === 'string' ? parsed.html : '', text: parsed.text ?? '', headers: parsed.headers as Map<string, unknown>,
          attachments: parsed.attachments.map((a) => ({ filename: a.filename ?? '', contentType: a.contentType, content: a.content })) });
        done();
      })
      .catch((e: Error) => done(e));
  });
}

/**
 * An SMTP server that accepts every mail and only counts it: the bench's stand-in for the shop's mail relay, which
 * runs on another machine in a deployment and does not parse MIME (parsing each receipt cost ~3 ms of this machine's
 * CPU per order, more than half of what the app spends placing it).
 */
export function startSmtpCounter(onMail: () => void, port = 0): Promise<SmtpListener> {
  return listenSmtp(port, (stream, done) => {
    stream.on('end', () => { onMail(); done(); });
    stream.resume();
  });
}

async function listenSmtp(port: number, onData: (stream: Readable, done: (e?: Error) => void) => void): Promise<SmtpListener> {
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, _session, callback) { onData(stream, callback); },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const actualPort = (server.server.address() as { port: number }).port;
  return {
    url: `smtp://127.0.0.1:${actualPort}`,
    port: actualPort,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
