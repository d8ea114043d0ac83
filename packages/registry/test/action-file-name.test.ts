import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { ActionRegistry } from '../src/index.js';
import { removeTempDirs, tempDir, thrown, writeFiles } from './helpers.js';

afterEach(removeTempDirs);

const definition = (name: string): string =>
  `name: ${name}\nversion: "1.0.0"\ndescription: x\nrisk_class: low\ntarget_types: [t]\n`;

describe('an action file is named after the action it defines', () => {
  it('refuses restart-deployment.yaml that defines delete-namespace, naming both and the fix', async () => {
    const dir = tempDir();
    writeFiles(dir, {
      'restart-deployment.yaml': definition('delete-namespace'),
      'scale-deployment.yaml': definition('scale-deployment'),
    });
    for (const error of [
      thrown(() => ActionRegistry.loadSync(dir)),
      await ActionRegistry.load(dir).catch((e) => e),
    ]) {
      expect(error.code).toBe('CONFIG_INVALID');
      expect(error.issues).toEqual([
        {
          file: join(dir, 'restart-deployment.yaml'),
          path: 'name',
          severity: 'error',
          message:
            'the file is named "restart-deployment.yaml" but defines action "delete-namespace"; name each action file <name>.yaml (rename the file to "delete-namespace.yaml" or fix the name)',
        },
      ]);
    }
  });

  it('accepts <name>.yaml and <name>.yml', () => {
    const dir = tempDir();
    writeFiles(dir, { 'a-one.yaml': definition('a-one'), 'b-two.yml': definition('b-two') });
    expect(ActionRegistry.loadSync(dir).names()).toEqual(['a-one', 'b-two']);
  });

  it('refuses the mismatch also when the definition comes from the validated cache', () => {
    const dir = tempDir();
    writeFiles(dir, { 'restart-deployment.yaml': definition('delete-namespace') });
    const store = new Map<string, unknown>();
    const parseCache = {
      get: (key: string) => store.get(key),
      set: (key: string, value: unknown) => void store.set(key, value),
    };
    for (let run = 0; run < 2; run++) {
      expect(thrown(() => ActionRegistry.loadSync(dir, { parseCache })).issues[0]?.message).toMatch(
        /named "restart-deployment.yaml" but defines action "delete-namespace"/,
      );
    }
  });
});
