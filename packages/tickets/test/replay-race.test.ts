import { fork, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { TicketIssuer } from '../src/index.js';
import { EXPECTED, REQUEST, SECRET } from './helpers.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/validate-once.mjs', import.meta.url));
const PROCESSES = 6;
const ROUNDS = 3;

interface ChildResult {
  readonly valid: boolean;
  readonly code: string | null;
}

function waitFor<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: { type?: string } & T) => {
      if (message?.type === type) {
        child.off('message', onMessage);
        resolve(message);
      }
    };
    child.on('message', onMessage);
    child.once('exit', (code) => reject(new Error(`child exited with ${code} before "${type}"`)));
  });
}

describe('single use across OS processes (FileNonceStore)', () => {
  let directory: string;
  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'tickets-race-'));
  });
  afterAll(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it.each(Array.from({ length: ROUNDS }, (_, round) => round + 1))(
    'round %i: exactly one of several processes validating the same ticket at once wins',
    async () => {
      const issuer = new TicketIssuer({ algorithm: 'HS256', key: SECRET });
      const ticket = await issuer.issue(REQUEST);
      const children = Array.from({ length: PROCESSES }, () =>
        fork(FIXTURE, [directory, SECRET], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
      );
      try {
        await Promise.all(children.map((child) => waitFor(child, 'ready')));
        const results = children.map((child) => waitFor<ChildResult>(child, 'result'));
        for (const child of children) child.send({ type: 'go', token: ticket.token, expected: EXPECTED });
        const outcomes = await Promise.all(results);
        expect(outcomes.filter((outcome) => outcome.valid)).toHaveLength(1);
        expect(outcomes.filter((outcome) => outcome.code === 'REPLAYED')).toHaveLength(PROCESSES - 1);
      } finally {
        for (const child of children) if (child.exitCode === null) child.kill();
      }
    },
  );
});
