import { readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { ActionRegistry, MANIFEST_FILE_NAME, generateManifest, writeManifest } from '../src/index.js';
import {
  FIXTURES,
  copyOfFixtureActions,
  rejected,
  removeTempDirs,
  tempDir,
  thrown,
  writeFiles,
} from './helpers.js';

afterEach(removeTempDirs);

const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('generateManifest', () => {
  it('hashes every YAML file in the directory, sorted by name', () => {
    const dir = join(FIXTURES, 'actions');
    expect(generateManifest(dir)).toEqual({
      version: 1,
      algorithm: 'sha256',
      files: {
        'read-build-log.yml': sha256(join(dir, 'read-build-log.yml')),
        'resize-worker-pool.yaml': sha256(join(dir, 'resize-worker-pool.yaml')),
        'wipe-artifact-store.yaml': sha256(join(dir, 'wipe-artifact-store.yaml')),
      },
    });
    expect(Object.keys(generateManifest(dir).files)).toEqual([
      'read-build-log.yml',
      'resize-worker-pool.yaml',
      'wipe-artifact-store.yaml',
    ]);
  });

  it('fails with FILE_UNREADABLE for a missing directory', () => {
    expect(thrown(() => generateManifest(join(tempDir(), 'missing'))).code).toBe('FILE_UNREADABLE');
  });
});

describe('writeManifest', () => {
  it('writes actions.manifest.json atomically, leaving no temporary file', () => {
    const dir = copyOfFixtureActions();
    const written = writeManifest(dir);
    expect(JSON.parse(readFileSync(join(dir, MANIFEST_FILE_NAME), 'utf8'))).toEqual(written);
    expect(readdirSync(dir).filter((name) => name.endsWith('.tmp'))).toEqual([]);
    // the manifest is not itself listed, and writing again gives the same file
    expect(Object.keys(written.files)).not.toContain(MANIFEST_FILE_NAME);
    expect(writeManifest(dir)).toEqual(written);
  });
});

describe('manifest verification on load', () => {
  it('loads when every file matches', async () => {
    const dir = copyOfFixtureActions();
    writeManifest(dir);
    expect((await ActionRegistry.load(dir, { manifest: 'require' })).size).toBe(3);
  });

  it('lists each modified, missing and extra file in one MANIFEST_MISMATCH', async () => {
    const dir = copyOfFixtureActions();
    writeManifest(dir);
    writeFileSync(
      join(dir, 'resize-worker-pool.yaml'),
      `${readFileSync(join(dir, 'resize-worker-pool.yaml'), 'utf8')}# edited\n`,
    );
    rmSync(join(dir, 'read-build-log.yml'));
    writeFiles(dir, {
      'sneaky.yaml': 'name: sneaky\nversion: "1.0.0"\ndescription: x\nrisk_class: low\ntarget_types: [t]\n',
    });
    const error = await rejected(ActionRegistry.load(dir));
    expect(error.code).toBe('MANIFEST_MISMATCH');
    expect(error.message).toContain('writeManifest');
    expect(error.issues.map((issue) => [issue.file?.split('/').pop(), issue.message.split(':')[0]])).toEqual([
      ['resize-worker-pool.yaml', 'modified'],
      ['sneaky.yaml', 'extra'],
      ['read-build-log.yml', 'missing'],
    ]);
    expect(thrown(() => ActionRegistry.loadSync(dir)).code).toBe('MANIFEST_MISMATCH');
  });

  it('checks the manifest before parsing, so a tampered file is never interpreted', () => {
    const dir = copyOfFixtureActions();
    writeManifest(dir);
    writeFiles(dir, { 'wipe-artifact-store.yaml': 'not: [valid' });
    expect(thrown(() => ActionRegistry.loadSync(dir)).code).toBe('MANIFEST_MISMATCH');
  });

  it('detects a symbolic link swapped to point at other content', () => {
    const dir = tempDir();
    symlinkSync(join(FIXTURES, 'actions', 'wipe-artifact-store.yaml'), join(dir, 'a.yaml'));
    writeManifest(dir);
    rmSync(join(dir, 'a.yaml'));
    symlinkSync(join(FIXTURES, 'actions', 'read-build-log.yml'), join(dir, 'a.yaml'));
    expect(thrown(() => ActionRegistry.loadSync(dir)).code).toBe('MANIFEST_MISMATCH');
  });

  it("'require' refuses a directory without a manifest; 'verify' does not", () => {
    const dir = copyOfFixtureActions();
    const error = thrown(() => ActionRegistry.loadSync(dir, { manifest: 'require' }));
    expect(error.code).toBe('MANIFEST_MISMATCH');
    expect(error.message).toContain('writeManifest');
    expect(ActionRegistry.loadSync(dir).size).toBe(3);
  });

  it("'ignore' loads despite a mismatch", () => {
    const dir = copyOfFixtureActions();
    writeManifest(dir);
    writeFiles(dir, {
      'extra.yaml': 'name: extra\nversion: "1.0.0"\ndescription: x\nrisk_class: low\ntarget_types: [t]\n',
    });
    expect(ActionRegistry.loadSync(dir, { manifest: 'ignore' }).size).toBe(4);
  });

  it('rejects a malformed manifest as CONFIG_INVALID', () => {
    const dir = copyOfFixtureActions();
    for (const text of [
      '{',
      '[]',
      '{"version":2,"algorithm":"sha256","files":{}}',
      '{"version":1,"algorithm":"md5","files":{}}',
    ]) {
      writeFiles(dir, { [MANIFEST_FILE_NAME]: text });
      expect(thrown(() => ActionRegistry.loadSync(dir)).code).toBe('CONFIG_INVALID');
    }
    writeFiles(dir, {
      [MANIFEST_FILE_NAME]: JSON.stringify({
        version: 1,
        algorithm: 'sha256',
        files: { 'a.yaml': 'not-hex' },
      }),
    });
    expect(thrown(() => ActionRegistry.loadSync(dir)).issues[0]?.message).toContain('files.a.yaml');
  });
});
