import { Command, Option } from 'clipanion';
import { ConfigCommand } from '../base-command.js';
import { CliError, usageError } from '../cli-error.js';

/**
 * `agent-safe serve`: the decision API over HTTP (docs/server.md). Runs until SIGTERM or SIGINT, then
 * finishes the requests in flight, flushes the audit log and exits 0.
 */
export class ServeCommand extends ConfigCommand {
  static override paths = [['serve']];
  static override usage = Command.Usage({
    description: 'Serve the decision API over HTTP (POST /v1/check …) until SIGTERM or SIGINT',
    details: `
      Serves POST /v1/check, /v1/check-plan and /v1/tickets/validate, and GET /healthz, /readyz, /metrics and
      /openapi.json, for the project in the working directory (docs/server.md). Prints one line with the URL on
      stdout. With identity configured the caller is the bearer token (\`Authorization: Bearer <token>\`).

      Listens on 127.0.0.1 unless \`--host\` says otherwise: every interface (0.0.0.0) must be asked for.
      SIGTERM or SIGINT stop accepting connections, let requests in flight finish, flush the audit log and
      exit 0.
    `,
    examples: [
      ['Serve on loopback, port 8080', '$0 serve'],
      ['Pick a free port and log each request to stderr', '$0 serve --port 0 --log-requests'],
    ],
  });

  host = Option.String('--host', { description: 'Interface to listen on (default 127.0.0.1)' });
  port = Option.String('--port', { description: 'TCP port (default 8080; 0 picks a free one)' });
  logRequests = Option.Boolean('--log-requests', false, {
    description: 'Log one JSON line per request to stderr',
  });

  async run(): Promise<number> {
    const port = this.port === undefined ? 8080 : Number(this.port);
    if (!/^\d{1,5}$/.test(this.port ?? '8080') || port > 65535) {
      throw usageError(`--port must be a TCP port number from 0 to 65535, got "${this.port}"`);
    }
    const host = this.host ?? '127.0.0.1';
    const config = await this.projectConfig();
    const safe = await this.open({ auditLog: config.auditLog ?? './audit.jsonl' });
    const { startServer } = await import('@agent-safe/server');
    const stderr = this.context.stderr;
    let server: Awaited<ReturnType<typeof startServer>>;
    try {
      server = await startServer({
        safe,
        host,
        port,
        ...(this.logRequests ? { onRequest: (entry) => stderr.write(`${JSON.stringify(entry)}\n`) } : {}),
      });
    } catch (error) {
      await safe.close();
      const code = (error as NodeJS.ErrnoException).code;
      throw new CliError(
        'USAGE',
        code === 'EADDRINUSE'
          ? `${host}:${port} is already in use; choose another --port`
          : `cannot listen on ${host}:${port}: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    this.print(`agent-safe serve listening on ${server.url}`);
    await new Promise<void>((done) => {
      const stop = () => {
        process.off('SIGTERM', stop);
        process.off('SIGINT', stop);
        done();
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
    });
    await server.close();
    return 0;
  }
}
