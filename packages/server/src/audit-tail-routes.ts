import type { FileHandle } from 'node:fs/promises';
import { open, readdir, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { basename, dirname, join } from 'node:path';
import { readAuditLog } from '@agent-safe/sdk';
import type { AgentSafe } from '@agent-safe/sdk/facade';
import { HttpError } from './http-error.js';
import type { RouteDescription } from './openapi.js';
import { requireAdmin } from './reload.js';

/** The most backlog events `?limit` may ask for. */
export const MAX_TAIL_BACKLOG = 1000;
/** Backlog events sent when `?limit` is not given. */
export const DEFAULT_TAIL_BACKLOG = 10;
/** How many of the last events `?since` / `Last-Event-ID` is looked for among. */
export const MAX_TAIL_RESUME_SCAN = 10_000;
/** Bytes read from the log per step: with one line, all a stream ever holds in memory. */
const READ_CHUNK = 64 * 1024;
/** A longer line is not one of ours (damage): it is skipped, never buffered whole. */
const MAX_EVENT_BYTES = 4 * 1024 * 1024;

/** What the audit tail route needs from the server. */
export interface AuditTailHost {
  /** The facade serving now (its identity verifies the admin token). */
  safe(): AgentSafe;
  /** The audit log file the server writes (false when the log is off). */
  auditLogPath(): string | false;
  /** The server's admin roles. */
  readonly adminRoles: readonly string[];
  bearerToken(request: IncomingMessage): string | undefined;
  /** How often the log file is looked at for new events (ms). Default 250. */
  readonly pollMs?: number;
  /** How often a heartbeat comment is sent when nothing else was (ms). Default 15 000. */
  readonly heartbeatMs?: number;
}

/** What the route handler receives (the server's RequestContext). */
export interface AuditTailContext {
  readonly request: IncomingMessage;
  readonly query: URLSearchParams;
  readonly signal: AbortSignal;
}

/** A route that answers with a stream: `stream(response)` writes the head and the body itself. */
export interface AuditTailRoute extends RouteDescription {
  handle(context: AuditTailContext): Promise<{
    status: number;
    stream: (response: ServerResponse) => Promise<void>;
  }>;
}

interface StoredEvent {
  readonly event_id?: unknown;
  readonly sequence?: unknown;
}

/**
 * GET /v1/audit/tail (docs/server.md, "Audit tail"): Server-Sent Events of the audit log, for tokens
 * holding an admin role. First the backlog (the last `?limit` events, or those after `?since` /
 * `Last-Event-ID`), then each event as it is appended, following the file across rotation. The file is
 * the buffer: a slow client is simply read for more slowly (no event is queued in memory beyond one
 * 64 KiB read); heartbeat comments keep proxies from closing an idle stream; the stream ends when the
 * client goes away or the server closes.
 */
/** An audit event id as `since` and Last-Event-ID accept it (the handler's check, stated in the schema). */
const EVENT_ID_SCHEMA = { type: 'string', pattern: '^[A-Za-z0-9_.:-]{1,200}$' };

export function auditTailRoutes(host: AuditTailHost): AuditTailRoute[] {
  return [
    {
      method: 'GET',
      path: '/v1/audit/tail',
      operationId: 'tailAuditLog',
      summary: `Server-Sent Events of the audit log as it is appended (admin role): ?limit=N backlog events (default ${DEFAULT_TAIL_BACKLOG}, at most ${MAX_TAIL_BACKLOG}), ?since=<event id> or Last-Event-ID to resume`,
      parameters: [
        {
          name: 'limit',
          in: 'query',
          required: false,
          schema: { type: 'integer', minimum: 0, maximum: MAX_TAIL_BACKLOG, default: DEFAULT_TAIL_BACKLOG },
        },
        { name: 'since', in: 'query', required: false, schema: EVENT_ID_SCHEMA },
        { name: 'Last-Event-ID', in: 'header', required: false, schema: EVENT_ID_SCHEMA },
      ],
      response: { text: 'text/event-stream' },
      errors: [400, 401, 403, 404],
      authenticated: true,
      async handle({ request, query, signal }) {
        await requireAdmin(host.safe(), host.bearerToken(request), host.adminRoles, 'tail the audit log');
        const path = host.auditLogPath();
        if (path === false) {
          throw new HttpError(
            400,
            'USAGE',
            'the audit log is off on this server (audit_log: false), so there is nothing to tail',
          );
        }
        const limit = query.get('limit');
        if (limit !== null && !(/^[0-9]{1,4}$/.test(limit) && +limit <= MAX_TAIL_BACKLOG)) {
          throw new HttpError(
            400,
            'INPUT_INVALID',
            `limit must be a whole number from 0 to ${MAX_TAIL_BACKLOG}`,
            'limit',
          );
        }
        const header = request.headers['last-event-id'];
        const since = query.get('since') ?? (typeof header === 'string' ? header : null);
        if (since !== null && !/^[\w.:-]{1,200}$/.test(since)) {
          throw new HttpError(
            400,
            'INPUT_INVALID',
            'since (or Last-Event-ID) must be an audit event id (event_id), e.g. evt-…',
            'since',
          );
        }
        // Where following starts: the current end of the file. Events the backlog read beyond it are
        // skipped by sequence (below), so none is sent twice and none falls between backlog and follow.
        const start = await fileState(path);
        const backlog = await readBacklog(path, since, limit === null ? DEFAULT_TAIL_BACKLOG : +limit);
        return {
          status: 200,
          stream: (response) =>
            follow(response, {
              path,
              start,
              backlog,
              signal,
              pollMs: host.pollMs ?? 250,
              heartbeatMs: host.heartbeatMs ?? 15_000,
            }),
        };
      },
    },
  ];
}

/** The events to send first: those after `since`, or the last `limit`. */
async function readBacklog(path: string, since: string | null, limit: number): Promise<StoredEvent[]> {
  const read = async (last: number): Promise<StoredEvent[]> => {
    try {
      return (await readAuditLog(path, { last })) as StoredEvent[];
    } catch (error) {
      // No log yet (nothing decided since it was configured): an empty backlog.
      if ((error as { code?: string }).code === 'FILE_UNREADABLE') return [];
      throw error;
    }
  };
  if (since === null) return limit === 0 ? [] : read(limit);
  const recent = await read(MAX_TAIL_RESUME_SCAN);
  const index = recent.findIndex((event) => event.event_id === since);
  if (index < 0) {
    throw new HttpError(
      404,
      'INPUT_INVALID',
      `event ${since} is not among the last ${MAX_TAIL_RESUME_SCAN} events of the audit log, so the stream cannot resume after it without a gap; reconnect without since (and Last-Event-ID), and read older events with agent-safe audit show`,
      'since',
    );
  }
  return recent.slice(index + 1);
}

interface FileState {
  readonly ino: number;
  readonly dev: number;
  readonly size: number;
}

async function fileState(path: string): Promise<FileState | undefined> {
  try {
    const info = await stat(path);
    return info.isFile() ? { ino: info.ino, dev: info.dev, size: info.size } : undefined;
  } catch {
    return undefined;
  }
}

interface FollowOptions {
  readonly path: string;
  readonly start: FileState | undefined;
  readonly backlog: readonly StoredEvent[];
  readonly signal: AbortSignal;
  readonly pollMs: number;
  readonly heartbeatMs: number;
}

/** Writes the SSE stream until the client leaves or the server closes. */
async function follow(response: ServerResponse, options: FollowOptions): Promise<void> {
  const { path, signal } = options;
  const stop = new AbortController();
  const end = () => stop.abort();
  signal.addEventListener('abort', end, { once: true });
  response.once('close', end);
  response.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    // Proxies such as nginx must not hold events back.
    'x-accel-buffering': 'no',
  });
  let lastWrite = Date.now();
  /** Writes; waits while the client's socket buffer is full (backpressure: the file stays the buffer). */
  const write = async (text: string): Promise<void> => {
    lastWrite = Date.now();
    if (response.write(text) || stop.signal.aborted) return;
    await new Promise<void>((done) => {
      const finish = () => {
        response.off('drain', finish);
        stop.signal.removeEventListener('abort', finish);
        done();
      };
      response.on('drain', finish);
      stop.signal.addEventListener('abort', finish, { once: true });
    });
  };
  // The last sequence sent: the overlap of backlog and follow (events appended while the backlog was
  // read) and of a rotated file read twice is sent once. A genesis event (sequence 1) starts a new log.
  let lastSent = 0;
  const send = async (event: StoredEvent, line?: string): Promise<void> => {
    const sequence = typeof event.sequence === 'number' ? event.sequence : undefined;
    if (sequence !== undefined) {
      if (sequence <= lastSent && sequence !== 1) return;
      lastSent = sequence;
    }
    const id = typeof event.event_id === 'string' ? `id: ${event.event_id}\n` : '';
    await write(`${id}event: audit\ndata: ${line ?? JSON.stringify(event)}\n\n`);
  };

  let handle: FileHandle | undefined;
  let current: FileState | undefined;
  let offset = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let skipping = false;
  const buffer = Buffer.allocUnsafe(READ_CHUNK);
  const closeFile = async (): Promise<void> => {
    await handle?.close().catch(() => undefined);
    handle = undefined;
    current = undefined;
  };
  const openAt = async (state: FileState | undefined, at: number, file = path): Promise<void> => {
    await closeFile();
    try {
      handle = await open(file, 'r');
      const info = await handle.stat();
      current = { ino: info.ino, dev: info.dev, size: info.size };
      // The path may have moved on between stat and open: start at the end we were told only if same file.
      offset = info.ino === state?.ino && info.dev === state?.dev ? Math.min(at, info.size) : 0;
    } catch {
      await handle?.close().catch(() => undefined);
      handle = undefined;
      current = undefined;
    }
    pending = [];
    pendingBytes = 0;
    skipping = false;
  };
  /** Reads and sends what the open file holds beyond `offset`, one chunk at a time. */
  const drain = async (): Promise<void> => {
    while (handle && !stop.signal.aborted) {
      const { bytesRead } = await handle.read(buffer, 0, READ_CHUNK, offset);
      if (bytesRead === 0) return;
      offset += bytesRead;
      let from = 0;
      while (from < bytesRead && !stop.signal.aborted) {
        const newline = buffer.indexOf(0x0a, from);
        if (newline < 0 || newline >= bytesRead) {
          if (!skipping) {
            pendingBytes += bytesRead - from;
            if (pendingBytes > MAX_EVENT_BYTES) {
              skipping = true;
              pending = [];
              pendingBytes = 0;
            } else pending.push(Buffer.from(buffer.subarray(from, bytesRead)));
          }
          break;
        }
        const piece = buffer.subarray(from, newline);
        const line = skipping
          ? undefined
          : pending.length === 0
            ? piece.toString('utf8')
            : Buffer.concat([...pending, piece]).toString('utf8');
        pending = [];
        pendingBytes = 0;
        skipping = false;
        from = newline + 1;
        if (line === undefined || line.length === 0) continue;
        let event: unknown;
        try {
          event = JSON.parse(line);
        } catch {
          continue; // a torn or damaged line: verify reports it; the tail shows events only
        }
        if (event !== null && typeof event === 'object' && !Array.isArray(event)) {
          await send(event as StoredEvent, line);
        }
      }
    }
  };

  const heartbeat = setInterval(
    () => {
      if (Date.now() - lastWrite >= options.heartbeatMs && response.writableLength === 0) {
        void write(': heartbeat\n\n');
      }
    },
    Math.min(options.heartbeatMs, 5_000),
  );
  heartbeat.unref();
  try {
    await write(': agent-safe audit tail\n\n');
    for (const event of options.backlog) {
      if (stop.signal.aborted) break;
      await send(event);
    }
    if (options.start) await openAt(options.start, options.start.size);
    while (!stop.signal.aborted) {
      await drain();
      if (stop.signal.aborted) break;
      await sleep(options.pollMs, stop.signal);
      const now = await fileState(path);
      if (now === undefined) continue; // between a rotation's rename and the new file: keep the old one
      if (current === undefined) {
        await openAt(now, 0);
        continue;
      }
      if (now.ino !== current.ino || now.dev !== current.dev) {
        // Rotated: the rest of the old file first (still open), then the files rotated after it (several
        // rotations may fall between two looks), then the new file from its start. The writer names a
        // rotated file after its last sequence: the old file's new name (found by inode) says where the
        // newer ones begin. Not found (another program's rotation, or removed): after what was sent,
        // and never the history when nothing was.
        await drain();
        let after =
          (await rotatedNumber(path, current)) ?? (lastSent > 0 ? lastSent : Number.POSITIVE_INFINITY);
        while (!stop.signal.aborted) {
          for (const file of await rotatedAfter(path, after)) {
            if (stop.signal.aborted) break;
            await openAt(undefined, 0, file.path);
            await drain();
            after = file.number;
          }
          const fresh = await fileState(path);
          if (fresh === undefined) {
            await closeFile(); // the next look opens the new file
            break;
          }
          await openAt(fresh, 0);
          // Rotated again between the listing and the open: the file just opened may be one to read first.
          if ((await rotatedAfter(path, after)).length === 0) break;
        }
      } else if (now.size < offset) {
        // Truncated in place: start again at its beginning.
        await openAt(now, 0);
      }
    }
  } finally {
    clearInterval(heartbeat);
    signal.removeEventListener('abort', end);
    response.off('close', end);
    await handle?.close().catch(() => undefined);
    // At shutdown the connection goes too: its head was sent before the server started closing, so it
    // says keep-alive, and an idle kept-alive socket would hold up close() until its timeout.
    const closeSocket = () => {
      if (signal.aborted) response.socket?.destroy();
    };
    if (!response.writableEnded) response.end(closeSocket);
    else closeSocket();
  }
}

interface RotatedFile {
  readonly path: string;
  /** The sequence of its last event, from its name. */
  readonly number: number;
}

/**
 * The files the writer rotated: `<log>.<sequence of its last event, 12 digits>` beside the log, oldest
 * first. (Other rotators' names — logrotate's `.1` — carry no sequence: their files are noticed through
 * the rename alone, one rotation per look.)
 */
async function rotatedFiles(path: string): Promise<RotatedFile[]> {
  const name = basename(path);
  let entries: string[];
  try {
    entries = await readdir(dirname(path));
  } catch {
    return [];
  }
  return entries
    .filter((entry) => entry.startsWith(`${name}.`) && /^\d{12}$/.test(entry.slice(name.length + 1)))
    .map((entry) => ({ path: join(dirname(path), entry), number: Number(entry.slice(name.length + 1)) }))
    .sort((a, b) => a.number - b.number);
}

/** The rotated files after `number`, oldest first. */
async function rotatedAfter(path: string, number: number): Promise<RotatedFile[]> {
  return (await rotatedFiles(path)).filter((file) => file.number > number);
}

/** The number in the rotated name of the file `state` (by inode), newest names looked at first. */
async function rotatedNumber(path: string, state: FileState | undefined): Promise<number | undefined> {
  if (state === undefined) return undefined;
  for (const file of (await rotatedFiles(path)).reverse()) {
    const info = await fileState(file.path);
    if (info?.ino === state.ino && info.dev === state.dev) return file.number;
  }
  return undefined;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((done) => {
    if (signal.aborted) return done();
    const timer = setTimeout(finish, ms);
    function finish() {
      clearTimeout(timer);
      signal.removeEventListener('abort', finish);
      done();
    }
    signal.addEventListener('abort', finish, { once: true });
  });
}
