import { type ArnSlot, arnProblem, arnValueProblem } from './aws-syntax.js';

/** A `{{ params.name }}` template anywhere in a string. */
const TEMPLATE_ANYWHERE = /\{\{\s*params\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

/** Stand-in values used to check the literal skeleton of an ARN template before any param is read. */
const STAND_IN: Readonly<Record<ArnSlot, string>> = {
  region: 'us-east-1',
  account: '123456789012',
  resource: 'x',
  'resource-tail': 'x',
  's3-key': 'x',
};

/** What {@link renderArnTemplate} found. */
export interface ArnRenderResult {
  /** The rendered ARN, when every value could be used. */
  readonly value?: string;
  /** A defect of the action file's template (CONFIG_INVALID). */
  readonly configProblems: readonly string[];
  /** Params that cannot be used, with why (PARAMS_INVALID). Never holds a value. */
  readonly paramProblems: readonly string[];
  /** Names of the params spliced in. */
  readonly params: readonly string[];
}

/**
 * How the param values are looked up: a string, or why there is none to use (`config`: the action
 * does not declare it; `param`: missing or not a string).
 */
export type ParamLookup = (name: string) => { value: string } | { problem: string; kind: 'config' | 'param' };

interface Piece {
  readonly literal: string;
  readonly name?: string;
  slot?: ArnSlot;
}

/**
 * Renders an ARN whose parts may hold `{{ params.x }}` templates, e.g.
 * `arn:aws:ec2:{{ params.region }}:*:instance/{{ params.instance_id }}`. Each template's slot is found
 * from the literal text before it: the region or account (then the template must be that whole part),
 * the resource part (then it may not touch another template; only a template ending the ARN may hold
 * `/`). The partition and service are never templated. The skeleton (stand-ins in every slot) must be an
 * ARN; then each value is checked against its slot's character set ({@link arnValueProblem}) and the
 * rendered ARN once more ({@link arnProblem}).
 */
export function renderArnTemplate(entry: string, lookup: ParamLookup): ArnRenderResult {
  const pieces: Piece[] = [];
  const configProblems: string[] = [];
  const paramProblems: string[] = [];
  let last = 0;
  for (const match of entry.matchAll(TEMPLATE_ANYWHERE)) {
    pieces.push({ literal: entry.slice(last, match.index) });
    pieces.push({ literal: '', name: match[1]! });
    last = match.index + match[0].length;
  }
  pieces.push({ literal: entry.slice(last) });
  const names = pieces.flatMap((piece) => (piece.name === undefined ? [] : [piece.name]));
  if (pieces.some((piece) => piece.literal.includes('{{') || piece.literal.includes('}}'))) {
    return {
      configProblems: ['holds a malformed template: write each as "{{ params.NAME }}"'],
      paramProblems,
      params: names,
    };
  }
  // Slots, from the literal text before each template (a value never holds ":").
  let prefix = '';
  for (let index = 0; index < pieces.length; index++) {
    const piece = pieces[index]!;
    if (piece.name === undefined) {
      prefix += piece.literal;
      continue;
    }
    const colons = prefix.split(':').length - 1;
    const before = prefix.at(-1);
    // Pieces alternate literal, template, literal…: the piece after a template is always a literal.
    const following = pieces[index + 1]?.literal ?? '';
    const after = following[0];
    const atEnd = following === '' && index + 2 >= pieces.length;
    const touching = following === '' && !atEnd;
    const problem = (message: string) => configProblems.push(`template for param "${piece.name}" ${message}`);
    if (colons < 3) {
      problem('may not set the partition or service of an ARN; write them literally');
    } else if (colons === 3 || colons === 4) {
      piece.slot = colons === 3 ? 'region' : 'account';
      if (before !== ':' || after !== ':') problem(`must be the whole ${piece.slot} part of the ARN`);
    } else if (touching || (index > 1 && pieces[index - 1]!.literal === '')) {
      problem('may not touch another template (the boundary between the values would be ambiguous)');
    } else {
      // The key of an S3 object ARN (arn:aws:s3:::bucket/key) may hold more characters than other names.
      piece.slot = atEnd ? (isS3ObjectPrefix(prefix) ? 's3-key' : 'resource-tail') : 'resource';
    }
    prefix += STAND_IN[piece.slot ?? 'resource'];
  }
  if (configProblems.length === 0 && names.length > 0) {
    const skeleton = arnProblem(prefix);
    if (skeleton !== undefined)
      configProblems.push(`is not an ARN template: with its params filled in it ${skeleton}`);
  }
  if (configProblems.length > 0) return { configProblems, paramProblems, params: names };
  let rendered = '';
  for (const piece of pieces) {
    if (piece.name === undefined) {
      rendered += piece.literal;
      continue;
    }
    const found = lookup(piece.name);
    if ('problem' in found) {
      (found.kind === 'config' ? configProblems : paramProblems).push(found.problem);
      continue;
    }
    const problem = arnValueProblem(found.value, piece.slot!);
    if (problem !== undefined) {
      paramProblems.push(`param "${piece.name}" (the ${describeSlot(piece.slot!)} of the ARN) ${problem}`);
      continue;
    }
    rendered += found.value;
  }
  if (configProblems.length > 0 || paramProblems.length > 0) {
    return { configProblems, paramProblems, params: names };
  }
  if (names.length > 0) {
    const problem = arnProblem(rendered);
    if (problem !== undefined) {
      paramProblems.push(
        `the ARN rendered from params ${names.map((name) => `"${name}"`).join(', ')} ${problem}`,
      );
      return { configProblems, paramProblems, params: names };
    }
  }
  return { value: rendered, configProblems, paramProblems, params: names };
}

/** True when the text before a template is `arn:PARTITION:s3:::BUCKET/…`: the template fills an object key. */
function isS3ObjectPrefix(prefix: string): boolean {
  return /^arn:[a-z-]+:s3:::[^/]+\//.test(prefix);
}

function describeSlot(slot: ArnSlot): string {
  if (slot === 's3-key') return 'object key';
  return slot === 'resource-tail' ? 'end of the resource part' : `${slot} part`;
}
