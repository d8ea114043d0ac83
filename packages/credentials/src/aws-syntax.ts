/**
 * Syntax of the values of a `type: aws` credentials block: IAM action names and ARNs, and the strict
 * character sets a `{{ params.x }}` value must keep to, depending on the part of the ARN it fills.
 * A param value never carries an IAM wildcard (`*`, `?`), a policy variable (`${…}`), a `:` or a control
 * character, so it names one resource and never widens the policy.
 */

/** AWS partitions an ARN may name. */
export const AWS_PARTITIONS: ReadonlySet<string> = new Set([
  'aws',
  'aws-cn',
  'aws-us-gov',
  'aws-iso',
  'aws-iso-b',
  'aws-iso-e',
  'aws-iso-f',
  'aws-eusc',
]);

/** An IAM action name, `service:Action` (letters and digits), e.g. `ec2:StopInstances`. */
export const IAM_ACTION = /^[a-z0-9][a-z0-9-]{0,63}:[A-Za-z][A-Za-z0-9]{0,127}$/;
/** An IAM action pattern with a trailing wildcard, e.g. `ec2:Describe*` or `s3:*` (opt-in only). */
const IAM_ACTION_PATTERN = /^[a-z0-9][a-z0-9-]{0,63}:[A-Za-z0-9]{0,127}\*$/;
/** Actions that may be listed under `unscoped_actions`: reads (AWS grants many of them on `*` only). */
const READ_ACTION = /^[a-z0-9][a-z0-9-]{0,63}:(?:Describe|List|Get)[A-Za-z0-9]*$/;
/** An AWS region, e.g. `us-east-1`, `us-gov-west-1`, `ap-southeast-2`. */
export const AWS_REGION = /^[a-z]{2}(?:-[a-z]+){1,3}-\d{1,2}$/;
/** A 12-digit AWS account id. */
export const AWS_ACCOUNT_ID = /^\d{12}$/;
/** Longest ARN accepted (IAM's own limit on a resource ARN in a policy is 2048). */
export const MAX_ARN_LENGTH = 2048;
/** Longest param value spliced into an ARN (S3's key limit). */
export const MAX_ARN_VALUE_LENGTH = 1024;

/** Characters of a param value inside an ARN's resource part, followed by more text. */
const RESOURCE_VALUE = /^[A-Za-z0-9_.\-=,@+]+$/;
/** Characters of a param value that ends the ARN (S3 keys, IAM paths): the above and `/ ! ' ( )`. */
const RESOURCE_TAIL_VALUE = /^[A-Za-z0-9_.\-=,@+/!'()]+$/;
/**
 * Characters of an S3 object key ending an `arn:aws:s3:::bucket/key` ARN: printable ASCII except the
 * IAM wildcards, `$`, `:`, `"` and `\` (S3 keys may hold spaces, `#`, `&`, `%`…; IAM matches them literally).
 */
const S3_KEY_VALUE = /^[\x20-\x7e]+$/;
const S3_KEY_REFUSED = /[*?$:"\\]/;
/** Characters of an ARN's resource part (wildcards checked separately; S3 keys as above). */
const RESOURCE_PART = /^[\x20-\x7e]+$/;
const ARN = /^arn:([a-z-]+):([a-z0-9][a-z0-9-]{0,63}):([^:]*):([^:]*):(.+)$/s;

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is searched for
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** Where a param value sits in an ARN. */
export type ArnSlot = 'region' | 'account' | 'resource' | 'resource-tail' | 's3-key';

/** Why `value` cannot be listed under `actions`, or undefined. `*` patterns are checked by the caller. */
export function iamActionProblem(value: string): string | undefined {
  if (IAM_ACTION.test(value) || value === '*' || IAM_ACTION_PATTERN.test(value)) return undefined;
  return 'is not an IAM action name "service:Action" (lowercase service, letters and digits), e.g. "ec2:StopInstances"';
}

/** True when an action name grants more than one action (`*`, `ec2:*`, `ec2:Describe*`). */
export function isActionWildcard(value: string): boolean {
  return value.includes('*') || value.includes('?');
}

/** Why `value` cannot be listed under `unscoped_actions`, or undefined. */
export function unscopedActionProblem(value: string): string | undefined {
  if (READ_ACTION.test(value)) return undefined;
  return 'must be one read action (service:Describe…, List… or Get…, no wildcard): only reads AWS cannot scope to a resource may be granted on every resource';
}

/** The parts of an ARN, or undefined when it is not `arn:partition:service:region:account:resource`. */
export function parseArn(
  value: string,
): { partition: string; service: string; region: string; account: string; resource: string } | undefined {
  const match = ARN.exec(value);
  if (match === null) return undefined;
  return {
    partition: match[1]!,
    service: match[2]!,
    region: match[3]!,
    account: match[4]!,
    resource: match[5]!,
  };
}

/** Why `value` is not an ARN a session policy may name, or undefined. Wildcards are checked separately. */
export function arnProblem(value: string): string | undefined {
  if (value.length > MAX_ARN_LENGTH) return `is longer than ${MAX_ARN_LENGTH} characters`;
  if (CONTROL.test(value)) return 'contains a control character';
  if (value.includes('$')) return 'contains "$" (IAM policy variables are not allowed in a credential scope)';
  const arn = parseArn(value);
  if (arn === undefined) {
    return 'is not an ARN "arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE"';
  }
  if (!AWS_PARTITIONS.has(arn.partition)) {
    return `names an unknown partition (${[...AWS_PARTITIONS].join(', ')})`;
  }
  if (arn.region !== '' && arn.region !== '*' && !AWS_REGION.test(arn.region)) {
    return 'has a region that is not empty, "*" or a region name such as us-east-1';
  }
  if (
    arn.account !== '' &&
    arn.account !== '*' &&
    arn.account !== 'aws' &&
    !AWS_ACCOUNT_ID.test(arn.account)
  ) {
    return 'has an account that is not empty, "*", "aws" or a 12-digit account id';
  }
  if (!RESOURCE_PART.test(arn.resource) || /["\\]/.test(arn.resource)) {
    return 'has a resource part with characters an ARN may not hold (printable ASCII without " and \\)';
  }
  return undefined;
}

/** True when an ARN's resource part holds an IAM wildcard (`*` or `?`): it names more than one resource. */
export function isArnResourceWildcard(value: string): boolean {
  const arn = parseArn(value);
  const resource = arn === undefined ? value : arn.resource;
  return value === '*' || resource.includes('*') || resource.includes('?');
}

/**
 * Why a param value cannot fill `slot` of an ARN, or undefined. The message never quotes the value.
 * Refused: empty values, wildcards, policy variables, `:`, control characters, anything outside the
 * slot's character set, and `.`/`..` path segments.
 */
export function arnValueProblem(value: string, slot: ArnSlot): string | undefined {
  if (value === '') return 'is empty';
  if (value.length > MAX_ARN_VALUE_LENGTH) return `is longer than ${MAX_ARN_VALUE_LENGTH} characters`;
  if (CONTROL.test(value)) return 'contains a control character';
  if (value.includes('*') || value.includes('?')) {
    return 'contains an IAM wildcard ("*" or "?"), which would match more than the named resource';
  }
  // biome-ignore lint/suspicious/noTemplateCurlyInString: an IAM policy variable, not a JS template
  if (value.includes('$')) return 'contains "$" (an IAM policy variable "${…}" would be expanded by AWS)';
  if (value.includes(':')) return 'contains ":", which would shift the parts of the ARN';
  switch (slot) {
    case 'region':
      return AWS_REGION.test(value) ? undefined : 'is not an AWS region name such as us-east-1';
    case 'account':
      return AWS_ACCOUNT_ID.test(value) ? undefined : 'is not a 12-digit AWS account id';
    case 'resource':
      if (value.includes('/')) {
        return 'contains "/", which is only allowed in a value that ends the ARN (it would name a path under another resource)';
      }
      if (value === '.' || value === '..') return 'is a "." or ".." path segment';
      return RESOURCE_VALUE.test(value)
        ? undefined
        : 'holds characters not allowed here (letters, digits and _ . - = , @ + only)';
    case 's3-key':
      if (!S3_KEY_VALUE.test(value) || S3_KEY_REFUSED.test(value)) {
        return 'holds characters not allowed in an S3 key here (printable ASCII without * ? $ : " \\)';
      }
      if (value.split('/').some((segment) => segment === '.' || segment === '..')) {
        return 'has a "." or ".." path segment';
      }
      return undefined;
    case 'resource-tail':
      if (!RESOURCE_TAIL_VALUE.test(value)) {
        return "holds characters not allowed in an ARN (letters, digits and _ . - = , @ + / ! ' ( ) only)";
      }
      if (value.split('/').some((segment) => segment === '.' || segment === '..')) {
        return 'has a "." or ".." path segment';
      }
      return undefined;
    default:
      return 'fills an unknown part of the ARN';
  }
}
