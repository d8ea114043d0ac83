import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { ManualClock } from '@agent-safe/core';
import { FileNonceStore, InMemoryNonceStore, TicketIssuer, TicketValidator } from '../src/index.js';
import { EXPECTED, REQUEST, SECRET, START } from './helpers.js';

describe('InMemoryNonceStore', () => {
  it('accepts a nonce once', async () => {
    const store = new InMemoryNonceStore();
    expect(await store.consume('n1', Date.now() + 1000)).toBe(true);
    expect(await store.consume('n1', Date.now() + 1000)).toBe(false);
    expect(await store.consume('n2', Date.now() + 1000)).toBe(true);
  });

  it('forgets only expired nonces when it sweeps', async () => {
    const clock = new ManualClock(START);
    const store = new InMemoryNonceStore({ clock, pruneIntervalMs: 1000 });
    await store.consume('short', START + 500);
    await store.consume('long', START + 60_000);
    clock.advance(2000);
    await store.consume('trigger', START + 60_000);
    expect(store.size).toBe(2);
    expect(await store.consume('long', START + 60_000)).toBe(false);
    expect(await store.consume('short', START + 500)).toBe(true);
  });

  it('throws when full of live nonces so the validator fails closed', async () => {
    const clock = new ManualClock(START);
    const store = new InMemoryNonceStore({ clock, maxEntries: 2 });
    await store.consume('a', START + 60_000);
    await store.consume('b', START + 60_000);
    await expect(store.consume('c', START + 60_000)).rejects.toMatchObject({ code: 'INTERNAL' });
    const issuer = new TicketIssuer({ algorithm: 'HS256', key: SECRET, clock });
    const validator = new TicketValidator({ algorithm: 'HS256', key: SECRET, clock, nonceStore: store });
    expect(await validator.validate((await issuer.issue(REQUEST)).token, EXPECTED)).toMatchObject({
      valid: false,
      code: 'NONCE_STORE',
    });
    // Once the live nonces expire there is room again.
    clock.advance(120_000);
    expect(await store.consume('c', clock.now() + 60_000)).toBe(true);
  });

  it('rejects malformed input', async () => {
    const store = new InMemoryNonceStore();
    await expect(store.consume('', 1)).rejects.toMatchObject({ code: 'INPUT_INVALID' });
    await expect(store.consume('x'.repeat(513), 1)).rejects.toMatchObject({ code: 'INPUT_INVALID' });
    await expect(store.consume('n', Number.NaN)).rejects.toMatchObject({ code: 'INPUT_INVALID' });
  });
});

describe('FileNonceStore', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'tickets-nonces-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('records each nonce once, in a private sharded file named by its hash', async () => {
    const directory = join(root, 'nonces');
    const store = new FileNonceStore({ directory });
    expect(await store.consume('secret-nonce', START + 1000)).toBe(true);
    expect(await store.consume('secret-nonce', START + 1000)).toBe(false);
    // A second store on the same directory (as another process would) sees it too.
    expect(await new FileNonceStore({ directory }).consume('secret-nonce', START + 1000)).toBe(false);

    const digest = createHash('sha256').update('secret-nonce').digest('hex');
    const file = join(directory, digest.slice(0, 2), digest);
    expect(await readFile(file, 'utf8')).toBe(String(START + 1000));
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(directory)).mode & 0o777).toBe(0o700);
    expect((await stat(join(directory, digest.slice(0, 2)))).mode & 0o777).toBe(0o700);
    expect(JSON.stringify(await readdir(directory, { recursive: true }))).not.toContain('secret-nonce');
  });

  it('prune removes only expired nonces', async () => {
    const clock = new ManualClock(START);
    const store = new FileNonceStore({ directory: root, clock, pruneEvery: 0 });
    await store.consume('expired', START + 1000);
    await store.consume('alive', START + 60_000);
    clock.advance(5000);
    expect(await store.prune()).toBe(1);
    expect(await store.consume('alive', START + 60_000)).toBe(false);
    expect(await store.consume('expired', START + 1000)).toBe(true);
  });

  it('prunes in the background every N consumes', async () => {
    const clock = new ManualClock(START);
    const store = new FileNonceStore({ directory: root, clock, pruneEvery: 3 });
    await store.consume('old-1', START + 10);
    await store.consume('old-2', START + 10);
    clock.advance(1000);
    await store.consume('new-1', START + 60_000);
    await store.close();
    const files = (await readdir(root, { recursive: true })).filter((name) => /[0-9a-f]{64}$/.test(name));
    expect(files).toHaveLength(1);
  });

  it('refuses a world- or group-writable directory', async () => {
    await chmod(root, 0o777);
    expect(() => new FileNonceStore({ directory: root })).toThrow(/writable by other users/);
    await chmod(root, 0o770);
    expect(() => new FileNonceStore({ directory: root })).toThrow(/writable by other users/);
  });

  it('refuses a directory that is a symbolic link', async () => {
    const real = join(root, 'real');
    await mkdir(real, { mode: 0o700 });
    await symlink(real, join(root, 'link'));
    expect(() => new FileNonceStore({ directory: join(root, 'link') })).toThrow(/symbolic link/);
  });

  it('refuses a shard that was replaced by a symbolic link', async () => {
    const store = new FileNonceStore({ directory: root });
    const digest = createHash('sha256').update('n').digest('hex');
    const elsewhere = join(root, 'elsewhere');
    await mkdir(elsewhere, { mode: 0o700 });
    await symlink(elsewhere, join(root, digest.slice(0, 2)));
    await expect(store.consume('n', START)).rejects.toMatchObject({ code: 'FILE_UNWRITABLE' });
  });

  it('refuses a path that is a file', async () => {
    const file = join(root, 'file');
    await writeFile(file, 'x');
    expect(() => new FileNonceStore({ directory: file })).toThrow();
  });
});
