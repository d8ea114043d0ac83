import { AgentSafeError, type RenderedCredentialScope } from '@agent-safe/core';

/** STS's limit on an inline session policy, in characters of its minified JSON. */
export const AWS_SESSION_POLICY_MAX_CHARS = 2048;

/** One statement of an IAM policy document. */
export interface AwsPolicyStatement {
  readonly Sid?: string;
  readonly Effect: 'Allow' | 'Deny';
  readonly Action: string | readonly string[];
  readonly Resource: string | readonly string[];
  readonly Condition?: Readonly<Record<string, Readonly<Record<string, string | readonly string[]>>>>;
}

/** An IAM policy document. */
export interface AwsPolicyDocument {
  readonly Version: '2012-10-17';
  readonly Statement: readonly AwsPolicyStatement[];
}

/**
 * The inline session policy for a rendered `type: aws` scope: one Allow statement of `actions` ×
 * `resources`, plus — when the block lists `unscoped_actions` (reads AWS grants only on every resource,
 * such as `ec2:DescribeInstances`) — a second Allow statement of those actions on `*`. A session's rights
 * are the intersection of the role's policies and this document, so the session can do no more than
 * this, whatever the role allows. Throws `CONFIG_INVALID` when the scope is not an aws scope, and
 * `PARAMS_INVALID` when the minified document is longer than STS accepts (2048 characters), naming its
 * length (never a value).
 */
export function awsSessionPolicy(scope: RenderedCredentialScope): AwsPolicyDocument {
  if (scope?.type !== 'aws') {
    throw new AgentSafeError(
      'CONFIG_INVALID',
      `awsSessionPolicy needs an aws scope, got "${String(scope?.type)}"`,
      {
        details: { field: 'credentials.type' },
      },
    );
  }
  const actions = scope.fields.actions ?? [];
  const resources = scope.fields.resources ?? [];
  const unscoped = new Set(scope.fields.unscoped_actions ?? []);
  const scoped = actions.filter((action) => !unscoped.has(action));
  if (actions.length === 0 || (scoped.length > 0 && resources.length === 0)) {
    throw new AgentSafeError(
      'CONFIG_INVALID',
      'An aws credential scope needs actions and resources (render it with renderScope)',
      {
        details: { field: 'credentials.fields' },
      },
    );
  }
  const statements: AwsPolicyStatement[] = [];
  if (scoped.length > 0) {
    statements.push({
      Sid: 'AgentSafeScoped',
      Effect: 'Allow',
      Action: [...scoped],
      Resource: [...resources],
    });
  }
  if (unscoped.size > 0) {
    statements.push({ Sid: 'AgentSafeUnscopedReads', Effect: 'Allow', Action: [...unscoped], Resource: '*' });
  }
  const document: AwsPolicyDocument = { Version: '2012-10-17', Statement: statements };
  const length = JSON.stringify(document).length;
  if (length > AWS_SESSION_POLICY_MAX_CHARS) {
    throw new AgentSafeError(
      'PARAMS_INVALID',
      `The session policy rendered for this request is ${length} characters; STS accepts at most ${AWS_SESSION_POLICY_MAX_CHARS}: shorten the params spliced into the resources (e.g. the object key) or list fewer resources`,
      { details: { field: 'credentials.fields.resources', length } },
    );
  }
  return document;
}
