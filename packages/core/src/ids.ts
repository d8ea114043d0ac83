import { randomBytes } from 'node:crypto';

let pool = Buffer.alloc(0);
let offset = 0;

/** A random id with a prefix, e.g. `evt-3f2a…` (16 random bytes, hex). Draws from a pooled buffer. */
export function randomId(prefix: string): string {
  if (offset + 16 > pool.length) {
    pool = randomBytes(4096);
    offset = 0;
  }
  const id = pool.toString('hex', offset, offset + 16);
  offset += 16;
  return `${prefix}-${id}`;
}
