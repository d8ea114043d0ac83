import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { assertKeyDirectory, loadKeyMaterial } from '../src/index.js';
import { SECRET } from './helpers.js';

const pair = generateKeyPairSync('ed25519');
const FILES = {
  secret: `${SECRET}\n`,
  private: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  privateJwk: JSON.stringify(pair.privateKey.export({ format: 'jwk' })),
  public: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  jwks: JSON.stringify({ keys: [pair.publicKey.export({ format: 'jwk' })] }),
};

/** A private directory holding `name` with exactly `mode`. */
function keyFile(name: keyof typeof FILES, mode: number, directoryMode = 0o700): string {
  const directory = mkdtempSync(join(tmpdir(), 'agent-safe-key-mode-'));
  chmodSync(directory, directoryMode);
  const path = join(directory, name);
  writeFileSync(path, FILES[name]);
  chmodSync(path, mode);
  return path;
}

async function refusal(source: string): Promise<Error & { code?: string }> {
  return loadKeyMaterial(source).then(
    () => {
      throw new Error(`${source} was accepted`);
    },
    (error: Error & { code?: string }) => error,
  );
}

describe('key file permissions', () => {
  it.each(['secret', 'private', 'privateJwk', 'public', 'jwks'] as const)(
    'refuses a %s key file other users can write (666, 664, 646), naming the file and the fix',
    async (name) => {
      for (const mode of [0o666, 0o664, 0o646, 0o620]) {
        const path = keyFile(name, mode);
        const error = await refusal(`file:${path}`);
        expect(error.code).toBe('KEY_INVALID');
        expect(error.message).toContain(`Key file is writable by other users (mode ${mode.toString(8)})`);
        expect(error.message).toContain(`chmod 600 ${path}`);
        expect(error.message).not.toContain(SECRET);
      }
    },
  );

  it.each(['secret', 'private', 'privateJwk'] as const)(
    'refuses a %s key file other users can read (644, 640, 604), and accepts 600 and 400',
    async (name) => {
      for (const mode of [0o644, 0o640, 0o604]) {
        const path = keyFile(name, mode);
        const error = await refusal(path);
        expect(error.code).toBe('KEY_INVALID');
        expect(error.message).toMatch(/is readable by other users \(mode 6\d\d\); refused/);
        expect(error.message).toContain(`chmod 600 ${path}`);
        expect(error.message).not.toContain(SECRET);
      }
      for (const mode of [0o600, 0o400]) {
        expect((await loadKeyMaterial(`file:${keyFile(name, mode)}`)).source).toMatch(/^file:/);
      }
    },
  );

  it('lets public keys be world-readable (644)', async () => {
    expect((await loadKeyMaterial(keyFile('public', 0o644))).kind).toBe('public-pem');
    expect((await loadKeyMaterial(keyFile('jwks', 0o644))).kind).toBe('jwks');
  });

  it('refuses a key in a directory other users can write, unless the sticky bit protects it', async () => {
    const exposed = keyFile('secret', 0o600, 0o777);
    const error = await refusal(exposed);
    expect(error.message).toContain('The key directory is writable by other users (mode 777)');
    expect(error.message).toContain('chmod 700');
    expect(() => assertKeyDirectory(join(exposed, '..'))).toThrow(/writable by other users/);
    const groupWritable = keyFile('secret', 0o600, 0o770);
    expect((await refusal(groupWritable)).message).toContain('(mode 770)');
    const sticky = keyFile('secret', 0o600, 0o1777);
    expect((await loadKeyMaterial(sticky)).kind).toBe('secret');
  });

  it('refuses a FIFO as a key file instead of waiting for a writer', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'agent-safe-key-fifo-'));
    mkdirSync(join(directory, 'keys'), { mode: 0o700 });
    const fifo = join(directory, 'keys', 'key.fifo');
    execFileSync('mkfifo', ['-m', '600', fifo]);
    const error = await refusal(`file:${fifo}`);
    expect(error.message).toContain('Key source is not a regular file');
  });
});
