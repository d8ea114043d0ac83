// Shared jest configuration: native ESM, TypeScript compiled by @swc/jest.
// Packages import it from their own jest.config.js.
import { resolve } from 'node:path';

/** @param {string} packageDir @returns {import('jest').Config} */
export function jestConfig(packageDir) {
  const name = packageDir.split('/').pop();
  const resultsDir = process.env.JEST_RESULTS_DIR;
  return {
    rootDir: packageDir,
    testEnvironment: 'node',
    testMatch: ['<rootDir>/test/**/*.test.ts'],
    extensionsToTreatAsEsm: ['.ts'],
    moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
    transform: {
      '^.+\\.ts$': [
        '@swc/jest',
        { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'es6' } },
      ],
    },
    testTimeout: 60_000,
    ...(resultsDir
      ? {
          reporters: [
            'default',
            [
              '<rootDir>/../../scripts/jest-results-reporter.cjs',
              { file: resolve(resultsDir, `${name}.json`) },
            ],
          ],
        }
      : {}),
  };
}
