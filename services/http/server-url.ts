import type { Server } from 'node:net';

/** Where a listening server can be reached: a wildcard bind (0.0.0.0, ::) is reached on loopback. */
export function serverUrl(server: Server): string {
  const addr = server.address();
  if (!addr || typeof addr === 'string') throw new Error('server is not listening on TCP');
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${addr.port}`;
}
