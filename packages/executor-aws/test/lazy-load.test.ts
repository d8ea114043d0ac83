// GUIDE §2: importing @agent-safe/executor-aws (and planning) loads no AWS SDK client; the first call of
// a service loads that service's client only. Checked in a child process with a module resolve hook that
// records every @aws-sdk specifier resolved.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect, it } from '@jest/globals';

const DIST = pathToFileURL(join(import.meta.dirname, '..', 'dist', 'index.js')).href;

it('importing and planning load no SDK client; an EC2 call loads client-ec2 alone', () => {
  const directory = mkdtempSync(join(tmpdir(), 'agent-safe-aws-lazy-'));
  const hooks = join(directory, 'hooks.mjs');
  writeFileSync(
    hooks,
    `export async function resolve(specifier, context, next) {
  if (specifier.startsWith('@aws-sdk/client-')) process.stdout.write('LOADED ' + specifier + '\\n');
  return next(specifier, context);
}
`,
  );
  const script = `
import { register } from 'node:module';
register(${JSON.stringify(pathToFileURL(hooks).href)});
const { AwsExecutor } = await import(${JSON.stringify(DIST)});
const executor = new AwsExecutor({ endpoint: 'http://127.0.0.1:9', credentials: { accessKeyId: 'A', secretAccessKey: 'B' }, maxAttempts: 1 });
const action = { name: 'ec2-reboot-instance', parameters: [], stateFields: [], prechecks: [] };
const request = { action, target: 't', params: { instance_id: 'i-0123456789abcdef0', region: 'us-east-1' }, ticket: {} };
executor.plan(request);
process.stdout.write('PLANNED\\n');
const outcome = await executor.execute(request, { signal: new AbortController().signal });
process.stdout.write('DONE ' + outcome.ok + '\\n');
`;
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  });
  expect(result.stderr).toBe('');
  const lines = result.stdout.trim().split('\n');
  expect(lines).toEqual(['PLANNED', 'LOADED @aws-sdk/client-ec2', 'DONE false']);
}, 40_000);
