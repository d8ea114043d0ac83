// The AwsExecutor without moto: a stub EC2 endpoint (never converging, throttling, denying, hanging)
// for waits, aborts, retries and error mapping; credentials and option checks; pure prechecks.
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Credential } from '@agent-safe/core';
import { awsApiCalls, PLANNED_AWS_ACTIONS } from '@agent-safe/runner';
import {
  AWS_PRECHECKS,
  AwsExecutor,
  awsCredentialKeys,
  bucketPolicyProblem,
  lambdaEnvironmentProblem,
} from '../src/index.js';
import { catalogue, context, KEYS, REGION, requestFor } from './aws-helpers.js';

const ID = 'i-0123456789abcdef0';
const NS = 'http://ec2.amazonaws.com/doc/2016-11-15/';
type Mode = 'stopping' | 'throttle-then-ok' | 'deny' | 'hang';
let mode: Mode = 'stopping';
let requests: string[] = [];
let keyIds: string[] = [];
let server: Server;
let url: string;
const hanging: ServerResponse[] = [];

function stateXml(name: string) {
  return `<instanceState><code>64</code><name>${name}</name></instanceState>`;
}

function answer(response: ServerResponse, body: string) {
  const action = /Action=([A-Za-z]+)/.exec(body)?.[1] ?? '?';
  requests.push(action);
  const xml = (status: number, text: string) => {
    response.writeHead(status, { 'content-type': 'text/xml' });
    response.end(text);
  };
  if (mode === 'hang') {
    hanging.push(response);
    return;
  }
  if (mode === 'deny') {
    return xml(
      403,
      `<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized to perform this operation.\u001b[31m</Message></Error></Errors><RequestID>r</RequestID></Response>`,
    );
  }
  if (mode === 'throttle-then-ok' && requests.length <= 2) {
    return xml(
      503,
      `<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>r</RequestID></Response>`,
    );
  }
  if (action === 'StopInstances') {
    return xml(
      200,
      `<StopInstancesResponse xmlns="${NS}"><requestId>r</requestId><instancesSet><item><instanceId>${ID}</instanceId><currentState><code>64</code><name>stopping</name></currentState><previousState><code>16</code><name>running</name></previousState></item></instancesSet></StopInstancesResponse>`,
    );
  }
  if (action === 'RebootInstances') {
    return xml(
      200,
      `<RebootInstancesResponse xmlns="${NS}"><requestId>r</requestId><return>true</return></RebootInstancesResponse>`,
    );
  }
  return xml(
    200,
    `<DescribeInstancesResponse xmlns="${NS}"><requestId>r</requestId><reservationSet><item><reservationId>r-1</reservationId><instancesSet><item><instanceId>${ID}</instanceId>${stateXml('stopping')}<instanceType>t3.micro</instanceType></item></instancesSet></item></reservationSet></DescribeInstancesResponse>`,
  );
}

beforeAll(async () => {
  server = createServer((request, response) => {
    keyIds.push(/Credential=([^/]+)\//.exec(String(request.headers.authorization))?.[1] ?? '');
    let body = '';
    request.on('data', (chunk: Buffer) => {
      body += chunk.toString('utf8');
    });
    request.on('end', () => {
      if (request.url?.includes('/invocations')) {
        // Lambda Invoke (REST): a function that threw.
        response.writeHead(200, { 'content-type': 'application/json', 'x-amz-function-error': 'Unhandled' });
        response.end(JSON.stringify({ errorType: 'TypeError', errorMessage: 'boom\u001b[2J', trace: [] }));
        return;
      }
      answer(response, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const response of hanging) response.destroy();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function executor(options: Record<string, unknown> = {}) {
  return new AwsExecutor({ endpoint: url, credentials: { ...KEYS }, pollIntervalMs: 20, ...options });
}

describe('AwsExecutor waits, aborts, retries, errors (stub EC2 endpoint)', () => {
  it('a stop that never reaches "stopped" ends at the wait limit with ok:false saying so', async () => {
    mode = 'stopping';
    requests = [];
    const aws = executor({ waitTimeoutMs: 300 });
    const request = await requestFor('ec2-stop-instance', { region: REGION, instance_id: ID });
    const outcome = await aws.execute(request, context());
    aws.close();
    expect(outcome.ok).toBe(false);
    expect(outcome.error).toBe(
      'the instance is still stopping after 0s (wanted stopped; the call was made, the wait ended)',
    );
    expect(requests[0]).toBe('StopInstances');
    expect(requests.slice(1).every((action) => action === 'DescribeInstances')).toBe(true);
    expect(requests.length).toBeGreaterThan(3);
  });

  it('abort stops the wait promptly: ok:false "stopped: <reason>", no more polls', async () => {
    mode = 'stopping';
    requests = [];
    const aws = executor({ pollIntervalMs: 60_000 });
    const request = await requestFor('ec2-stop-instance', { region: REGION, instance_id: ID });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('cancelled by the test')), 200);
    const started = Date.now();
    const outcome = await aws.execute(request, context({ signal: controller.signal }));
    aws.close();
    expect(outcome).toMatchObject({ ok: false, error: 'stopped: cancelled by the test' });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(requests).toEqual(['StopInstances', 'DescribeInstances']);
  });

  it('abort stops a call that gets no answer', async () => {
    mode = 'hang';
    const aws = executor();
    const request = await requestFor('ec2-reboot-instance', { region: REGION, instance_id: ID });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('timed out')), 200);
    const started = Date.now();
    const outcome = await aws.execute(request, context({ signal: controller.signal }));
    aws.close();
    expect(outcome).toMatchObject({ ok: false, error: 'stopped: timed out' });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('a call without an answer ends after requestTimeoutMs, named as such', async () => {
    mode = 'hang';
    const aws = executor({ requestTimeoutMs: 300, maxAttempts: 1 });
    const request = await requestFor('ec2-reboot-instance', { region: REGION, instance_id: ID });
    const started = Date.now();
    const outcome = await aws.execute(request, context());
    aws.close();
    expect(outcome.ok).toBe(false);
    expect(outcome.error).toBe(`AWS ec2 at ${url} did not answer RebootInstances within 300 ms`);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('throttling is retried by the SDK (maxAttempts) and then succeeds', async () => {
    mode = 'throttle-then-ok';
    requests = [];
    const aws = executor({ maxAttempts: 3 });
    const request = await requestFor('ec2-reboot-instance', { region: REGION, instance_id: ID });
    const outcome = await aws.execute(request, context());
    expect(outcome).toMatchObject({ ok: true });
    expect(requests).toEqual(['RebootInstances', 'RebootInstances', 'RebootInstances']);
    requests = [];
    const once = executor({ maxAttempts: 1 });
    const failed = await once.execute(request, context());
    expect(failed).toMatchObject({ ok: false, error: 'RequestLimitExceeded: Request limit exceeded.' });
    aws.close();
    once.close();
  });

  it('access denied is named as such, the message escaped', async () => {
    mode = 'deny';
    const aws = executor();
    const request = await requestFor('ec2-reboot-instance', { region: REGION, instance_id: ID });
    const outcome = await aws.execute(request, context());
    aws.close();
    expect(outcome.ok).toBe(false);
    expect(outcome.error).toMatch(
      /^access denied: UnauthorizedOperation: You are not authorized to perform this operation\./,
    );
    expect(outcome.error).not.toContain('\u001b');
  });
});

describe('AwsExecutor: client cache', () => {
  it('one client per identity, reused; past 32 identities every run still succeeds (evicted clients are not cut off)', async () => {
    mode = 'stopping';
    const aws = executor();
    const request = await requestFor('ec2-reboot-instance', { region: REGION, instance_id: ID });
    keyIds = [];
    const runs = await Promise.all(
      Array.from({ length: 40 }, (_, index) =>
        aws.execute(
          request,
          context({ credentials: { accessKeyId: `ASIA${index}KEY`, secretAccessKey: 's' } }),
        ),
      ),
    );
    expect(runs.every((outcome) => outcome.ok)).toBe(true);
    expect(new Set(keyIds).size).toBe(40);
    const again = await aws.execute(
      request,
      context({ credentials: { accessKeyId: 'ASIA39KEY', secretAccessKey: 's' } }),
    );
    expect(again.ok).toBe(true);
    aws.close();
  });
});

describe('AwsExecutor: lambda-invoke-function errors and bounds', () => {
  it('a FunctionError is ok:false with the error type and message (escaped), the output kept', async () => {
    const aws = executor();
    const request = await requestFor('lambda-invoke-function', {
      region: REGION,
      function_name: 'fn1',
      payload: { a: 1 },
    });
    const outcome = await aws.execute(request, context());
    aws.close();
    expect(outcome.ok).toBe(false);
    expect(outcome.error).toBe('the function failed (Unhandled): TypeError: boom\\u{1b}[2J');
    expect(outcome.output).toMatchObject({ statusCode: 200, functionError: 'Unhandled' });
  });

  it('a payload over 256 KiB is refused before any call', async () => {
    const aws = executor();
    const request = await requestFor('lambda-invoke-function', { region: REGION, function_name: 'fn1' });
    const outcome = await aws.execute(
      { ...request, params: { ...request.params, payload: { big: 'x'.repeat(300 * 1024) } } },
      context(),
    );
    aws.close();
    expect(outcome).toMatchObject({
      ok: false,
      error: expect.stringContaining('lambda-invoke-function sends at most 262144'),
    });
  });
});

describe('AwsExecutor: plan, options, credentials', () => {
  it("execute and readState sign with ONLY the run credential; prechecks with the executor's own keys", async () => {
    mode = 'stopping';
    const aws = executor();
    const request = await requestFor('ec2-reboot-instance', { region: REGION, instance_id: ID });
    const run = {
      accessKeyId: 'ASIARUNCREDENTIAL',
      secretAccessKey: 'run-secret',
      sessionToken: 'run-token',
    };
    keyIds = [];
    expect((await aws.execute(request, context({ credentials: run }))).ok).toBe(true);
    await aws.readState(request, ['state'], context({ credentials: run }));
    expect(keyIds).toEqual(['ASIARUNCREDENTIAL', 'ASIARUNCREDENTIAL']);
    keyIds = [];
    expect((await aws.precheck('instance-exists', request, context({ credentials: run }))).status).toBe(
      'pass',
    );
    expect(keyIds).toEqual([KEYS.accessKeyId]);
    aws.close();
  });

  it('plan is awsApiCalls (options region when params name none)', async () => {
    const request = await requestFor('ec2-reboot-instance', { region: 'eu-west-1', instance_id: ID });
    expect(new AwsExecutor().plan(request)).toEqual(awsApiCalls('ec2-reboot-instance', request.params));
    expect(new AwsExecutor({ region: 'us-west-2' }).name).toBe('aws');
  });

  it('refuses bad options naming them', () => {
    expect(() => new AwsExecutor({ region: 'Mars' })).toThrow('options.region "Mars" is not an AWS region');
    expect(() => new AwsExecutor({ endpoint: 'file:///etc' })).toThrow(
      'options.endpoint must be an http(s) URL',
    );
    expect(() => new AwsExecutor({ maxAttempts: 0 })).toThrow(
      'maxAttempts must be a whole number from 1 to 10',
    );
    expect(() => new AwsExecutor({ credentials: { accessKeyId: 'A' } as never })).toThrow(
      'its secretAccessKey is missing or malformed',
    );
  });

  it('no region anywhere → ok:false naming where to give one', async () => {
    const saved = [process.env.AWS_REGION, process.env.AWS_DEFAULT_REGION];
    delete process.env.AWS_REGION;
    delete process.env.AWS_DEFAULT_REGION;
    try {
      const definition = (await catalogue()).get('ec2-reboot-instance');
      const outcome = await new AwsExecutor().execute(
        { action: definition as never, target: 't', params: { instance_id: ID }, ticket: {} as never },
        context(),
      );
      expect(outcome.ok).toBe(false);
      expect(outcome.error).toContain(
        "no AWS region for ec2-reboot-instance: give the region param, the executor's region option or AWS_REGION",
      );
    } finally {
      if (saved[0] !== undefined) process.env.AWS_REGION = saved[0];
      if (saved[1] !== undefined) process.env.AWS_DEFAULT_REGION = saved[1];
    }
  });

  it('awsCredentialKeys: a Credential handle or plain keys; revoked, expired or malformed fail closed, no value in the error', () => {
    const material = {
      ...KEYS,
      sessionToken: 'SESSION-TOKEN-VALUE',
      expiration: new Date(Date.now() + 900_000),
      region: 'eu-west-1',
    };
    const handle = new Credential({
      kind: 'aws-sts',
      id: 'session-1',
      issuedAt: Date.now(),
      expiresAt: Date.now() + 900_000,
      material,
    });
    expect(awsCredentialKeys(handle)).toEqual({
      keys: {
        accessKeyId: KEYS.accessKeyId,
        secretAccessKey: KEYS.secretAccessKey,
        sessionToken: 'SESSION-TOKEN-VALUE',
        expiration: material.expiration,
      },
      region: 'eu-west-1',
    });
    handle.invalidate();
    expect(() => awsCredentialKeys(handle)).toThrow('was revoked');
    const expired = new Credential({ kind: 'aws-sts', id: 's2', issuedAt: 0, expiresAt: 1, material });
    expect(() => awsCredentialKeys(expired)).toThrow('expired');
    for (const [bad, why] of [
      [{ token: 'x' }, 'unknown key "token"'],
      [{ ...KEYS, secretAccessKey: 'has space' }, 'secretAccessKey is missing or malformed'],
      [{ ...KEYS, expiration: 'soon' }, 'expiration is not a date'],
      [[KEYS], 'not an object'],
    ] as const) {
      let message = '';
      try {
        awsCredentialKeys(bad);
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toContain(why);
      expect(message).not.toContain(KEYS.secretAccessKey);
    }
  });

  it('a credential in the context is checked by prechecks too (revoked → fail), though they use the runner identity', async () => {
    const handle = new Credential({
      kind: 'aws-sts',
      id: 's',
      issuedAt: 0,
      expiresAt: Date.now() + 60_000,
      material: { ...KEYS },
    });
    handle.invalidate();
    const request = await requestFor('ec2-reboot-instance', { region: REGION, instance_id: ID });
    const outcome = await executor().precheck('instance-exists', request, context({ credentials: handle }));
    expect(outcome.status).toBe('fail');
    expect(outcome.reason).toContain('was revoked');
  });
});

describe('catalog/aws and the plan', () => {
  it('every catalogue action is planned (validated params) and implemented, and nothing else', async () => {
    const samples: Record<string, Record<string, unknown>> = {
      'ec2-reboot-instance': { instance_id: ID },
      'ec2-start-instance': { instance_id: ID },
      'ec2-stop-instance': { instance_id: ID },
      'ec2-terminate-instance': { instance_id: ID },
      'ecs-scale-service': { cluster: 'c1', service: 'web', desired_count: 2 },
      'ecs-stop-task': { cluster: 'c1', task: '0123456789abcdef0123456789abcdef' },
      'ecs-update-service': { cluster: 'c1', service: 'web', force_new_deployment: true },
      'iam-attach-role-policy': { role_name: 'r', policy_arn: 'arn:aws:iam::aws:policy/ReadOnlyAccess' },
      'iam-detach-role-policy': { role_name: 'r', policy_arn: 'arn:aws:iam::aws:policy/ReadOnlyAccess' },
      'lambda-invoke-function': { function_name: 'fn1' },
      'lambda-update-function-config': { function_name: 'fn1', memory_size: 256 },
      's3-delete-object': { bucket: 'bucket-one', key: 'a/b' },
      's3-put-bucket-policy': { bucket: 'bucket-one', policy: { Version: '2012-10-17', Statement: [] } },
    };
    const names = (await catalogue())
      .list()
      .map((action) => action.name)
      .sort();
    expect(names).toEqual([...PLANNED_AWS_ACTIONS].sort());
    for (const name of names) {
      const request = await requestFor(name, { region: REGION, ...samples[name] });
      const calls = new AwsExecutor().plan(request);
      expect(calls.length).toBeGreaterThan(0);
      expect(calls.every((call) => call.method === 'AWS' && call.query?.region === REGION)).toBe(true);
    }
  });
});

describe('prechecks: names and pure checks', () => {
  it('implements every precheck catalog/aws names; an unknown name fails', async () => {
    const actions = await catalogue();
    for (const action of actions.list()) {
      for (const check of action.prechecks) expect(Object.keys(AWS_PRECHECKS)).toContain(check.name);
    }
    const request = await requestFor('ec2-reboot-instance', { region: REGION, instance_id: ID });
    const outcome = await executor().precheck('no-such-check', request, context());
    expect(outcome.status).toBe('fail');
    expect(outcome.reason).toMatch(/^unknown precheck "no-such-check"/);
  });

  it('policy-valid-json: structure, Resource inside the bucket, size', () => {
    const good = {
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Deny', Principal: '*', Action: 's3:DeleteObject', Resource: 'arn:aws:s3:::b1/*' },
      ],
    };
    expect(bucketPolicyProblem(good, 'b1')).toBeUndefined();
    expect(bucketPolicyProblem(JSON.stringify(good), 'b1')).toBeUndefined();
    expect(bucketPolicyProblem({ ...good, Version: '2020' }, 'b1')).toBe('Version must be "2012-10-17"');
    expect(bucketPolicyProblem(good, 'other')).toContain('is not bucket other or under it');
    expect(
      bucketPolicyProblem(
        { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }] },
        'b1',
      ),
    ).toContain('needs exactly one of Principal and NotPrincipal');
    expect(bucketPolicyProblem({ Version: '2012-10-17', Statement: [] })).toBe('the policy has no Statement');
    expect(bucketPolicyProblem('{', 'b1')).toBe('the policy is not JSON');
    expect(
      bucketPolicyProblem({ ...good, Statement: [{ ...good.Statement[0], Sid: 'x'.repeat(21_000) }] }, 'b1'),
    ).toContain('larger than 20480 bytes');
  });

  it('environment-valid: names, reserved names, strings only, 4 KB; never a value', () => {
    expect(lambdaEnvironmentProblem({ LOG_LEVEL: 'debug' })).toBeUndefined();
    expect(lambdaEnvironmentProblem({ '1X': 'v' })).toContain('"1X" is not a valid name');
    expect(lambdaEnvironmentProblem({ AWS_REGION: 'v' })).toContain('reserved by Lambda');
    expect(lambdaEnvironmentProblem({ _HANDLER: 'v' })).toContain('"_HANDLER" is not a valid name');
    expect(lambdaEnvironmentProblem({ A: 12345 })).toBe(
      'the value of environment variable "A" must be a string',
    );
    const big = lambdaEnvironmentProblem({ A: 'secret-value-'.repeat(400) });
    expect(big).toContain('Lambda allows 4096');
    expect(big).not.toContain('secret-value');
  });

  it('update-requested: ecs and lambda requests that change nothing fail', async () => {
    const ecs = await requestFor('ecs-update-service', { region: REGION, cluster: 'c1', service: 'web' });
    expect(await executor().precheck('update-requested', ecs, context())).toMatchObject({ status: 'fail' });
    const lambda = await requestFor('lambda-update-function-config', { region: REGION, function_name: 'f' });
    expect(await executor().precheck('update-requested', lambda, context())).toMatchObject({
      status: 'fail',
    });
    const scale = await requestFor('ecs-update-service', {
      region: REGION,
      cluster: 'c1',
      service: 'web',
      desired_count: 0,
    });
    expect(await executor().precheck('update-requested', scale, context())).toMatchObject({ status: 'pass' });
  });
});
