import { createHash, hash } from 'node:crypto';

/**
 * SHA-256 as lowercase hex. Uses the one-shot `crypto.hash` where Node has it (20.12+): it skips the
 * Hash object and is about twice as fast for the short inputs the log hashes on every line.
 */
export const sha256Hex: (data: string | Uint8Array) => string =
  typeof hash === 'function'
    ? (data) => hash('sha256', data, 'hex')
    : (data) => createHash('sha256').update(data).digest('hex');
