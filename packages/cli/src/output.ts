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

// C0 controls (newline and tab included), DEL, C1 controls (U+009B is a one-byte CSI) and the Unicode
// line and paragraph separators.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/**
 * Text from a request, a token or a log made safe to print on one terminal line: control characters
 * are shown as `\xNN` / `\uNNNN` escapes, so a value can neither forge a line of output nor send escape
 * sequences to an operator's terminal.
 */
export function printable(text: unknown): string {
  const value = typeof text === 'string' ? text : String(text);
  return value.replace(CONTROL, (character) => {
    const code = character.charCodeAt(0);
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, '0')}`
      : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}
