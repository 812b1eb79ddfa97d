import { connect } from 'node:net';

/**
 * Ends a user's relayed sessions through Coturn's admin CLI (src/apps/relay/turn_admin_server.c),
 * which coturn/entrypoint.sh opens on 127.0.0.1 with the password the service keeps in
 * RELAY_SECRETS_DIR. The CLI speaks telnet (libtelnet): a password prompt, then `> ` after each
 * command; `psp <text>` lists the sessions whose username contains the text (`N) id=<id>, user
 * <name>:`), `cs <id>` cancels one (send_session_cancellation_to_relay: the allocation is freed
 * and the client's next packet is refused). No other command is ever sent.
 */

export interface RelayAdmin {
  /** 127.0.0.1's admin port (TURN_CLI_PORT). */
  port: number;
  password: string;
  timeoutMs?: number;
}

export class RelayAdminError extends Error {
  override readonly name = 'RelayAdminError';
}

const IAC = 255;
const PROMPT = '> ';

/** The text of a telnet stream: IAC command sequences (option negotiation) taken out. */
function telnetText(bytes: Buffer): string {
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] as number;
    if (b !== IAC) {
      out.push(b);
      continue;
    }
    const cmd = bytes[i + 1];
    if (cmd === IAC) {
      out.push(IAC);
      i++;
    } else if (cmd === 250) {
      // Subnegotiation: to IAC SE.
      const end = bytes.indexOf(240, i + 2);
      i = end < 0 ? bytes.length : end;
    } else if (cmd !== undefined && cmd >= 251 && cmd <= 254) i += 2;
    else i++;
  }
  return Buffer.from(out).toString('latin1');
}

/**
 * The sessions of `usernameTag` (what follows `<expiry>:` in a TURN REST username) ended on the
 * relay; resolves with how many.
 */
export async function endSessions(admin: RelayAdmin, usernameTag: string): Promise<number> {
  if (!/^[A-Za-z0-9._~@+-]{1,128}$/.test(usernameTag))
    throw new RelayAdminError('a user id to end the sessions of must be a valid user id');
  const socket = connect({ host: '127.0.0.1', port: admin.port });
  let raw = Buffer.alloc(0);
  let text = '';
  let waiter: (() => void) | undefined;
  socket.on('data', (chunk: Buffer) => {
    raw = Buffer.concat([raw, chunk]);
    text = telnetText(raw);
    waiter?.();
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const failure = new Promise<never>((_, reject) => {
    socket.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new RelayAdminError(
          `the relay's admin CLI on 127.0.0.1:${admin.port} cannot be reached (${err.code ?? err.message}): is the relay running with TURN_CLI_PASSWORD_FILE, and TURN_CLI_PORT the same for both containers?`,
        ),
      ),
    );
  });
  // Only ever awaited alongside a wait below; never an unhandled rejection on its own.
  failure.catch(() => {});
  const deadline = Date.now() + (admin.timeoutMs ?? 3000);
  /** Waits until the text after `from` holds one of `whats`: resolves with which, and that part. */
  const until = (from: number, ...whats: string[]): Promise<[string, string]> =>
    Promise.race([
      failure,
      new Promise<[string, string]>((resolve, reject) => {
        const timer = setTimeout(
          () => {
            waiter = undefined;
            reject(
              new RelayAdminError(
                `the relay's admin CLI on 127.0.0.1:${admin.port} did not answer in time`,
              ),
            );
          },
          Math.max(0, deadline - Date.now()),
        );
        const check = () => {
          const part = text.slice(from);
          const found = whats.find((w) => part.includes(w));
          if (found === undefined) return;
          waiter = undefined;
          clearTimeout(timer);
          resolve([found, part]);
        };
        waiter = check;
        check();
      }),
    ]);
  const send = (line: string) => {
    const from = text.length;
    socket.write(`${line}\r\n`);
    return from;
  };
  try {
    await until(0, 'Enter password:');
    const afterPassword = send(admin.password);
    const [answer] = await until(afterPassword, PROMPT, 'Enter password:');
    if (answer !== PROMPT)
      throw new RelayAdminError(
        "the relay's admin CLI refused the password: the relay and the service read different RELAY_SECRETS_DIR files; replace the relay so it reads the service's",
      );
    const [, listing] = await until(send(`psp :${usernameTag}`), PROMPT);
    // Only this user's: the listing matches any username containing the text.
    const own = new RegExp(`id=(\\d+), user <\\d+:${usernameTag.replace(/[.+]/g, '\\$&')}>:`, 'g');
    const ids = [...listing.matchAll(own)].map((m) => m[1] as string);
    for (const id of ids) await until(send(`cs ${id}`), PROMPT);
    socket.end('q\r\n');
    return ids.length;
  } finally {
    socket.destroy();
    await closed;
  }
}
