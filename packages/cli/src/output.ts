import type { Writable } from 'node:stream';

/** Colour helpers; identity functions when colour is off. */
export interface Style {
  readonly enabled: boolean;
  bold(text: string): string;
  dim(text: string): string;
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  cyan(text: string): string;
}

/** Colour only on a TTY, and never when NO_COLOR is set (https://no-color.org). FORCE_COLOR=1 forces it. */
export function colourEnabled(stream: Writable, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  return Boolean((stream as { isTTY?: boolean }).isTTY);
}

/** A {@link Style} for `stream`. */
export function styleFor(stream: Writable, env: NodeJS.ProcessEnv = process.env): Style {
  const enabled = colourEnabled(stream, env);
  const wrap = (open: number, close: number) => (text: string) =>
    enabled ? `\u001b[${open}m${text}\u001b[${close}m` : text;
  return {
    enabled,
    bold: wrap(1, 22),
    dim: wrap(2, 22),
    red: wrap(31, 39),
    green: wrap(32, 39),
    yellow: wrap(33, 39),
    cyan: wrap(36, 39),
  };
}

/** Colours a decision result: green ALLOW, red DENY, yellow REQUIRE_APPROVAL. */
export function colourResult(style: Style, result: string): string {
  if (result === 'ALLOW') return style.green(style.bold(result));
  if (result === 'DENY') return style.red(style.bold(result));
  return style.yellow(style.bold(result));
}
