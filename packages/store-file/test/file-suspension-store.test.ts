import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileSuspensionStore, SUSPENSIONS_FILE } from '../src/index.js';

const record = (agentId: string, reason = 'compromised') => ({
  agentId,
  by: 'admin',
  reason,
  at: 1_700_000_000_000,
});

describe('FileSuspensionStore', () => {
  let directory: string;
  beforeEach(() => {
    directory = mkdtempSync(join(tmpdir(), 'agent-safe-suspensions-'));
  });
  afterEach(() => {
    rmSync(directory, { recursive: true, force: true });
  });

  it('is shared by two instances on one directory, with a version that moves on every change', async () => {
    const a = new FileSuspensionStore({ directory });
    const b = new FileSuspensionStore({ directory });
    expect(await b.snapshot()).toEqual({ version: 0, records: [] });
    await a.suspend(record('agent-1'));
    await a.suspend(record('agent-2'));
    expect(await b.version()).toBe(2);
    expect((await b.snapshot()).records).toEqual([record('agent-1'), record('agent-2')]);
    expect(await b.resume('agent-1')).toEqual(record('agent-1'));
    expect(await a.snapshot()).toEqual({ version: 3, records: [record('agent-2')] });
    expect(await a.resume('nobody')).toBeUndefined();
    expect(await a.version()).toBe(3);
  });

  it('keeps every suspension made at once by concurrent writers (the lock serialises them)', async () => {
    const stores = Array.from({ length: 4 }, () => new FileSuspensionStore({ directory }));
    await Promise.all(
      Array.from({ length: 20 }, (_, index) => stores[index % 4]!.suspend(record(`agent-${index}`))),
    );
    const snapshot = await stores[0]!.snapshot();
    expect(snapshot.version).toBe(20);
    expect(snapshot.records.map((entry) => entry.agentId).sort()).toEqual(
      Array.from({ length: 20 }, (_, index) => `agent-${index}`).sort(),
    );
  });

  it('refuses a corrupt list (fail closed), naming the file', async () => {
    const store = new FileSuspensionStore({ directory });
    writeFileSync(
      join(directory, 'suspensions', SUSPENSIONS_FILE),
      '{"version": 1, "records": [{"agentId": 3}]}',
    );
    await expect(store.version()).rejects.toThrow(
      /suspensions\.json could not be read: not a suspension list/,
    );
    await expect(store.suspend(record('agent-1'))).rejects.toThrow(/could not be read/);
  });

  it('refuses a directory other users can write', () => {
    const shared = join(directory, 'suspensions');
    new FileSuspensionStore({ directory });
    chmodSync(shared, 0o777);
    expect(() => new FileSuspensionStore({ directory })).toThrow(/is writable by other users.*|chmod 700/);
  });
});
