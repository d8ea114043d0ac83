import { describe, expect, it, jest } from '@jest/globals';

// The AWS SDK clients are optional peers: when one is not installed, the provider says which to install.
jest.unstable_mockModule('@aws-sdk/client-sts', () => {
  throw new Error("Cannot find package '@aws-sdk/client-sts'");
});
const { StsCredentialProvider, renderScope } = await import('../src/index.js');
const { loadAwsClient, awsErrorReason } = await import('../src/aws-sdk-loader.js');

describe('loading the optional AWS SDK clients', () => {
  it('a missing client package is a USAGE error naming the package to install', async () => {
    await expect(loadAwsClient('@aws-sdk/client-sts')).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringMatching(
        /needs @aws-sdk\/client-sts, which is not installed: run `npm install @aws-sdk\/client-sts@\^3\.1178\.0`/,
      ),
    });
    const provider = new StsCredentialProvider({
      roleArn: 'arn:aws:iam::123456789012:role/r',
      region: 'us-east-1',
    });
    const action = {
      name: 'a',
      version: '1.0.0',
      parameters: [],
      credentials: {
        type: 'aws',
        fields: { actions: ['ec2:StopInstances'], resources: ['arn:aws:ec2:us-east-1:*:instance/i-1'] },
        ttl: 300,
      },
    };
    const scope = renderScope(action, {})!;
    await expect(
      provider.issue({ action: 'a@1.0.0', target: null, params: {}, scope, ttlSeconds: 300, requestId: 'r' }),
    ).rejects.toMatchObject({ code: 'USAGE' });
  });

  it('AWS error reasons are escaped, cut to 300 characters and never show an access key id', () => {
    const reason = awsErrorReason({
      name: 'InvalidClientTokenId',
      message: `The key ASIAZZZZZZZZZZZZZZZZ is bad\u001b[31m ${'x'.repeat(400)}`,
      $metadata: { httpStatusCode: 403 },
    });
    expect(reason).not.toContain('ASIAZZZZZZZZZZZZZZZZ');
    expect(reason).toContain('[access key id]');
    expect(reason).not.toContain('\u001b');
    expect(reason.length).toBeLessThan(340);
    expect(reason).toMatch(/\(HTTP 403\)$/);
  });
});
