// executor 'aws' in the SDK without AWS: the optional package loaded on use (missing → the install
// command), region and endpoint from options, agent-safe.yaml's `aws:` block and the AWS environment,
// each value checked (https or loopback http only), and options that do not fit the executor refused.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import {
  AWS_EXECUTOR_INSTALL,
  AWS_EXECUTOR_PACKAGE,
  AgentSafeError,
  DryRunExecutor,
  EXECUTOR_NAMES,
  awsEndpointProblem,
  awsRegionProblem,
  loadAwsExecutor,
  loadProjectConfig,
  resolveAwsOptions,
  resolveExecutor,
} from '../src/index.js';

function configFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'agent-safe-aws-config-'));
  writeFileSync(join(dir, 'agent-safe.yaml'), text);
  return dir;
}

/** An executor class standing in for AwsExecutor: records what it was constructed with. */
function fakeModule() {
  const constructed: unknown[] = [];
  class AwsExecutor extends DryRunExecutor {
    constructor(options: unknown) {
      super();
      constructed.push(options);
    }
  }
  return { constructed, load: async () => ({ AwsExecutor }) };
}

describe('agent-safe.yaml aws: block', () => {
  it('reads region and endpoint (a trailing slash dropped)', () => {
    const dir = configFile('aws:\n  region: eu-west-1\n  endpoint: http://127.0.0.1:5055/\n');
    expect(loadProjectConfig({ cwd: dir }).aws).toEqual({
      region: 'eu-west-1',
      endpoint: 'http://127.0.0.1:5055',
    });
    const https = configFile('aws: { endpoint: "https://vpce-1.ec2.eu-west-1.vpce.amazonaws.com" }\n');
    expect(loadProjectConfig({ cwd: https }).aws).toEqual({
      endpoint: 'https://vpce-1.ec2.eu-west-1.vpce.amazonaws.com',
    });
  });

  it.each([
    ['aws: eu-west-1\n', 'aws', 'expected a mapping: region'],
    ['aws: { region: Europe }\n', 'aws.region', 'expected an AWS region name such as us-east-1'],
    ['aws: { region: 12 }\n', 'aws.region', 'expected an AWS region name'],
    ['aws: { endpoint: "http://moto.example.com:5000" }\n', 'aws.endpoint', 'use https://'],
    ['aws: { endpoint: "ftp://127.0.0.1" }\n', 'aws.endpoint', 'expected an https:// URL'],
    ['aws: { endpoint: "127.0.0.1:5000" }\n', 'aws.endpoint', 'expected an absolute URL'],
    ['aws: { endpoint: "https://user:pw@s3.amazonaws.com" }\n', 'aws.endpoint', 'user name or password'],
    ['aws: { endpoint: "https://s3.amazonaws.com/?x=1" }\n', 'aws.endpoint', 'without query'],
    ['aws: { regoin: us-east-1 }\n', 'aws.regoin', 'unknown setting; expected region, endpoint'],
  ])('refuses %j naming %s and the fix', (text, path, message) => {
    const dir = configFile(text);
    let error: unknown;
    try {
      loadProjectConfig({ cwd: dir });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(AgentSafeError);
    expect(error).toMatchObject({
      code: 'CONFIG_INVALID',
      issues: [expect.objectContaining({ path, message: expect.stringContaining(message) })],
    });
    // A password given in the URL is never echoed back.
    expect(JSON.stringify((error as AgentSafeError).issues)).not.toContain(':pw@');
  });
});

describe('resolveAwsOptions: options, then agent-safe.yaml, then the AWS environment', () => {
  const env = {
    AWS_REGION: 'us-west-2',
    AWS_DEFAULT_REGION: 'us-east-2',
    AWS_ENDPOINT_URL: 'http://localhost:4566',
  };

  it('takes each setting from the first place that gives it', () => {
    expect(resolveAwsOptions({ region: 'eu-north-1' }, { region: 'eu-west-1' }, env)).toEqual({
      region: 'eu-north-1',
      endpoint: 'http://localhost:4566',
    });
    expect(resolveAwsOptions({}, { region: 'eu-west-1', endpoint: 'https://x.example' }, env)).toEqual({
      region: 'eu-west-1',
      endpoint: 'https://x.example',
    });
    expect(resolveAwsOptions({}, undefined, env)).toEqual({
      region: 'us-west-2',
      endpoint: 'http://localhost:4566',
    });
    expect(resolveAwsOptions({}, undefined, { AWS_DEFAULT_REGION: 'us-east-2', AWS_REGION: '' })).toEqual({
      region: 'us-east-2',
    });
    expect(resolveAwsOptions({}, undefined, {})).toEqual({});
  });

  it('refuses a bad option (USAGE) or a bad environment variable (CONFIG_INVALID), naming it', () => {
    expect(() => resolveAwsOptions({ endpoint: 'http://10.0.0.8:5000' }, undefined, {})).toThrow(
      /options\.endpoint: plain http:\/\/ is accepted only on this machine/,
    );
    expect(() => resolveAwsOptions({ region: 'moon-1' }, undefined, {}, (key) => `--${key}`)).toThrow(
      /^--region: expected an AWS region name/,
    );
    let error: unknown;
    try {
      resolveAwsOptions({}, undefined, { AWS_ENDPOINT_URL: 'http://evil.example' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringMatching(/^the environment variable AWS_ENDPOINT_URL: .*fix or unset it/),
    });
    // A valid config value shadows a bad environment variable (it is never read).
    expect(
      resolveAwsOptions({}, { endpoint: 'https://ok.example' }, { AWS_ENDPOINT_URL: 'nonsense' }),
    ).toEqual({ endpoint: 'https://ok.example' });
  });

  it('region and endpoint syntax', () => {
    for (const region of ['us-east-1', 'eu-central-2', 'us-gov-west-1', 'ap-southeast-4', 'cn-north-1']) {
      expect(awsRegionProblem(region)).toBeUndefined();
    }
    for (const region of ['US-EAST-1', 'us-east', 'us-east-1a', '', 'us-east-1\n']) {
      expect(awsRegionProblem(region)).toEqual(expect.any(String));
    }
    for (const endpoint of [
      'https://s3.amazonaws.com',
      'http://127.0.0.1:5000',
      'http://[::1]:1',
      'http://localhost',
    ]) {
      expect(awsEndpointProblem(endpoint)).toBeUndefined();
    }
    for (const endpoint of [
      'http://127.0.0.2',
      'http://localhost.evil.com',
      'file:///etc/passwd',
      'x'.repeat(3000),
    ]) {
      expect(awsEndpointProblem(endpoint)).toEqual(expect.any(String));
    }
    // Control characters of a bad value are escaped in the message.
    expect(awsRegionProblem('us-\u001b[31m')).not.toContain('\u001b');
  });
});

describe("resolveExecutor('aws')", () => {
  it('is a known executor name', () => {
    expect(EXECUTOR_NAMES).toContain('aws');
  });

  it('loads @agent-safe/executor-aws on use and hands it region and endpoint', async () => {
    const { constructed, load } = fakeModule();
    const executor = await resolveExecutor(
      'aws',
      { region: 'eu-west-1', endpoint: 'http://127.0.0.1:1' },
      load,
    );
    expect(executor).toBeInstanceOf(DryRunExecutor);
    expect(constructed).toEqual([{ region: 'eu-west-1', endpoint: 'http://127.0.0.1:1' }]);
    await resolveExecutor('aws', {}, load);
    expect(constructed[1]).toEqual({});
  });

  it('a missing package (or AWS SDK client) is a USAGE error naming what to install', async () => {
    for (const name of [AWS_EXECUTOR_PACKAGE, '@aws-sdk/client-ec2']) {
      const missing = async () => {
        throw Object.assign(new Error(`Cannot find package '${name}' imported from x`), {
          code: 'ERR_MODULE_NOT_FOUND',
        });
      };
      await expect(loadAwsExecutor(missing)).rejects.toMatchObject({
        code: 'USAGE',
        message: expect.stringContaining(
          `The aws executor needs the optional package ${AWS_EXECUTOR_PACKAGE}, which is not installed: run "${AWS_EXECUTOR_INSTALL}"`,
        ),
      });
    }
    await expect(loadAwsExecutor(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(loadAwsExecutor(async () => ({}))).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringContaining('has no AwsExecutor'),
    });
  });

  it('refuses options that do not fit the executor', async () => {
    const { load } = fakeModule();
    await expect(resolveExecutor('dry-run', { region: 'eu-west-1' })).rejects.toMatchObject({
      code: 'USAGE',
      message: "options.region applies to executor: 'aws' only",
    });
    await expect(
      resolveExecutor('kubernetes', { endpoint: 'https://x.example' }, load),
    ).rejects.toMatchObject({
      code: 'USAGE',
      message: "options.endpoint applies to executor: 'aws' only",
    });
    await expect(resolveExecutor('aws', { kubeconfig: '/k' }, load)).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringContaining('options.kubeconfig applies to the Kubernetes executors'),
    });
  });
});
