import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import type { ApprovalStore } from '@agent-safe/core';
import { FileApprovalStore } from '@agent-safe/store-file';
import { ApprovalService, MemoryApprovalStore, approvalDedupeKey, newApprovalId } from '../src/index.js';
import { approver, record, requestInput, settings, ticket } from './helpers.js';

const tempDir = () => mkdtempSync(join(tmpdir(), 'agent-safe-approvals-'));

const stores: [string, () => ApprovalStore][] = [
  ['memory', () => new MemoryApprovalStore()],
  ['file', () => new FileApprovalStore({ directory: join(tempDir(), 'approvals') })],
];

describe.each(stores)('the %s approval store', (_name, make) => {
  it('creates, reads, deduplicates and lists', async () => {
    const store = make();
    const key = 'k'.repeat(0) + 'a'.repeat(64);
    const first = record({ id: newApprovalId() });
    const second = record({ id: newApprovalId(), createdAt: first.createdAt + 1 });
    expect(await store.create(first, key)).toEqual({ record: first, created: true });
    expect(await store.create(second, key)).toEqual({ record: first, created: false });
    expect(await store.create(second, undefined)).toEqual({ record: second, created: true });
    expect(await store.get(first.id)).toEqual(first);
    expect(await store.findOpen(key)).toEqual(first);
    expect((await store.list()).map((r) => r.id)).toEqual([second.id, first.id]);
    expect(await store.list({ status: 'approved' })).toEqual([]);
    await store.close();
  });

  it('compare-and-swaps on the version', async () => {
    const store = make();
    const first = record({ id: newApprovalId() });
    await store.create(first, undefined);
    expect(await store.replace({ ...first, version: 3 })).toBe(false);
    expect(await store.replace({ ...first, version: 2, status: 'denied' })).toBe(true);
    expect(await store.replace({ ...first, version: 2, status: 'approved' })).toBe(false);
    expect((await store.get(first.id))?.status).toBe('denied');
    await store.close();
  });

  it('releases the dedupe key once the request is closed', async () => {
    const store = make();
    const key = 'b'.repeat(64);
    const first = record({ id: newApprovalId() });
    await store.create(first, key);
    await store.replace({ ...first, version: 2, status: 'denied' });
    expect(await store.findOpen(key)).toBeUndefined();
    const next = record({ id: newApprovalId() });
    expect(await store.create(next, key)).toEqual({ record: next, created: true });
    await store.close();
  });

  it('wakes a waiter on change, quickly', async () => {
    const store = make();
    const first = record({ id: newApprovalId() });
    await store.create(first, undefined);
    const started = performance.now();
    const waiting = store.waitForChange(first.id, 1, { timeoutMs: 10_000 });
    setTimeout(() => void store.replace({ ...first, version: 2, status: 'approved' }), 20);
    await waiting;
    expect(performance.now() - started).toBeLessThan(1_000);
    await store.close();
  });

  it('runs the whole service: request, approve, collect one ticket', async () => {
    const approvals = new ApprovalService({ store: make(), settings });
    const { record: created } = await approvals.request(requestInput);
    await approvals.approve(created.id, { approver: approver('alice') });
    const issue = async () => ticket('t');
    const [a, b] = await Promise.all([
      approvals.attachTicket(created.id, issue),
      approvals.attachTicket(created.id, issue),
    ]);
    expect(a).toEqual(b);
    expect((await approvals.get(created.id)).status).toBe('used');
    await approvals.close();
  });
});

describe('FileApprovalStore', () => {
  it('writes records 0600 in 0700 directories and refuses a directory others can write', () => {
    const dir = join(tempDir(), 'approvals');
    const store = new FileApprovalStore({ directory: dir });
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    void store;
    const open = tempDir();
    chmodSync(open, 0o777);
    expect(() => new FileApprovalStore({ directory: open })).toThrow(/writable by other users/);
  });

  it('reports a corrupt record file naming it, and never returns a record under another id', async () => {
    const dir = join(tempDir(), 'approvals');
    const store = new FileApprovalStore({ directory: dir });
    const id = newApprovalId();
    writeFileSync(join(dir, 'requests', `${id}.json`), '{not json', { mode: 0o600 });
    await expect(store.get(id)).rejects.toThrow(new RegExp(`${id}\\.json could not be read`));
    const other = record({ id: newApprovalId() });
    writeFileSync(join(dir, 'requests', `${id}.json`), JSON.stringify(other), { mode: 0o600 });
    await expect(store.get(id)).rejects.toThrow(/not an approval record of this id/);
    expect(await store.get('../../../etc/passwd')).toBeUndefined();
  });

  it('leaves no temporary files behind', async () => {
    const dir = join(tempDir(), 'approvals');
    const store = new FileApprovalStore({ directory: dir, fsync: false });
    for (let index = 0; index < 20; index++) await store.create(record({ id: newApprovalId() }), undefined);
    expect(readdirSync(join(dir, 'requests')).filter((name) => !name.endsWith('.json'))).toEqual([]);
  });
});

/** Runs a script in a child process with the built packages. */
function child(script: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const processHandle = spawn(process.execPath, ['--input-type=module', '-e', script, ...args], {
      cwd: import.meta.dirname,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    processHandle.stdout.on('data', (chunk) => {
      out += chunk;
    });
    processHandle.on('error', reject);
    processHandle.on('close', (code) =>
      code === 0 ? resolve(out.trim()) : reject(new Error(`child exited ${code}`)),
    );
  });
}

const CHILD_PRELUDE = `
const { FileApprovalStore } = await import('@agent-safe/store-file');
const { ApprovalService, resolveApprovalSettings } = await import('../dist/index.js');
const [directory, id, who] = process.argv.slice(1);
const approvals = new ApprovalService({
  store: new FileApprovalStore({ directory }),
  settings: resolveApprovalSettings({ approverRoles: ['approver'] }),
});
`;

describe('FileApprovalStore across processes', () => {
  it('two approvers in two processes at once: exactly one wins; two collectors: one ticket', async () => {
    const directory = join(tempDir(), 'approvals');
    const approvals = new ApprovalService({ store: new FileApprovalStore({ directory }), settings });
    const { record: created } = await approvals.request(requestInput);
    const vote = `${CHILD_PRELUDE}
try {
  await approvals.approve(id, { approver: { agentId: who, roles: ['approver'], authenticated: true, delegationChain: [] } });
  console.log('won');
} catch (error) { console.log(error.details?.reason ?? error.message); }`;
    const results = await Promise.all([
      child(vote, [directory, created.id, 'alice']),
      child(vote, [directory, created.id, 'bob']),
    ]);
    expect(results.sort()).toEqual(['ALREADY_DECIDED', 'won']);
    const collect = `${CHILD_PRELUDE}
const ticket = await approvals.attachTicket(id, async () => ({ token: 'token-' + who, nonce: who, expiresAt: Date.now() + 60000, auditId: 'evt' }));
console.log(ticket.token);`;
    const tickets = await Promise.all([
      child(collect, [directory, created.id, 'p1']),
      child(collect, [directory, created.id, 'p2']),
    ]);
    expect(tickets[0]).toBe(tickets[1]);
    expect((await approvals.get(created.id)).ticket?.token).toBe(tickets[0]);
  }, 30_000);

  it('ten agents waiting on ten requests all wake when another process decides them', async () => {
    const directory = join(tempDir(), 'approvals');
    const approvals = new ApprovalService({ store: new FileApprovalStore({ directory }), settings });
    const created = await Promise.all(
      Array.from({ length: 10 }, (_, index) =>
        approvals.request({ ...requestInput, paramsDigest: `${index}`.padStart(64, '0') }),
      ),
    );
    const waits = created.map(({ record: r }) => approvals.waitFor(r.id, { timeoutMs: 20_000 }));
    const decide = `${CHILD_PRELUDE}
for (const one of id.split(',')) await approvals.approve(one, { approver: { agentId: who, roles: ['approver'], authenticated: true, delegationChain: [] } });
console.log('done');`;
    await child(decide, [directory, created.map(({ record: r }) => r.id).join(','), 'alice']);
    const finished = await Promise.all(waits);
    expect(finished.every((r) => r.status === 'approved')).toBe(true);
    await approvals.close();
  }, 30_000);

  it('dedupes requests made by two processes at once', async () => {
    const directory = join(tempDir(), 'approvals');
    const ask = `
const { FileApprovalStore } = await import('@agent-safe/store-file');
const { ApprovalService, resolveApprovalSettings } = await import('../dist/index.js');
const [directory] = process.argv.slice(1);
const approvals = new ApprovalService({ store: new FileApprovalStore({ directory }), settings: resolveApprovalSettings({ approverRoles: ['approver'] }) });
const input = ${JSON.stringify(requestInput)};
const { record } = await approvals.request(input);
console.log(record.id);`;
    const ids = await Promise.all(Array.from({ length: 4 }, () => child(ask, [directory])));
    expect(new Set(ids).size).toBe(1);
    expect(approvalDedupeKey(requestInput)).toMatch(/^[0-9a-f]{64}$/);
  }, 30_000);
});
