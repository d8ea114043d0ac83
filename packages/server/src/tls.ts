import type { RequestListener, Server, ServerOptions as HttpServerOptions } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';

/** `ServerOptions.tls`: serve HTTPS, optionally requiring client certificates (mTLS). */
export interface TlsOptions {
  /** The server's certificate chain (PEM). */
  readonly cert: string | Buffer;
  /** The server's private key (PEM). */
  readonly key: string | Buffer;
  /**
   * CA certificates (PEM) that client certificates must chain to. Given, clients must present a valid
   * certificate signed by one of them: others are refused during the TLS handshake, before any HTTP.
   */
  readonly ca?: string | Buffer;
  /** Ask for (and require) a client certificate. Default: true when `ca` is given, else false. */
  readonly requestClientCert?: boolean;
}

/** A factory with node:http's createServer signature that makes an HTTPS server instead. */
export function tlsServerFactory(
  tls: TlsOptions,
): (options: HttpServerOptions, handler: RequestListener) => Server {
  const pem = (value: unknown, name: string) => {
    if (!(typeof value === 'string' || Buffer.isBuffer(value)) || !String(value).includes('-----BEGIN ')) {
      throw Object.assign(new Error(`tls.${name} must be PEM text (-----BEGIN …); pass the file's content`), {
        code: 'USAGE',
      });
    }
    return value;
  };
  const cert = pem(tls.cert, 'cert');
  const key = pem(tls.key, 'key');
  const ca = tls.ca === undefined ? undefined : pem(tls.ca, 'ca');
  const requestCert = tls.requestClientCert ?? ca !== undefined;
  if (requestCert && ca === undefined) {
    throw Object.assign(
      new Error('tls.requestClientCert needs tls.ca: the CA that client certificates must be signed by'),
      { code: 'USAGE' },
    );
  }
  return (options, handler) =>
    createHttpsServer(
      {
        ...options,
        cert,
        key,
        ...(ca !== undefined ? { ca } : {}),
        requestCert,
        // With a client CA, a client without a valid certificate is refused in the handshake.
        rejectUnauthorized: requestCert,
        minVersion: 'TLSv1.2',
      },
      handler,
    ) as unknown as Server;
}
