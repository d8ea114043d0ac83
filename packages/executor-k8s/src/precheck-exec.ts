import type { ExecutionRequest, PrecheckOutcome } from '@agent-safe/core';
import { fail, pass, quote } from './precheck-support.js';

/**
 * Operator settings some prechecks need beyond the request. Passed by the executor, never by the
 * agent: the agent's params are what is being checked.
 */
export interface PrecheckOptions {
  /**
   * exec-pod's allow-list: target id (as in the inventory and the ticket) → programs that may be run
   * there, each matched exactly against the command's first item (`cat` and `/bin/cat` are different
   * entries). The key `*` applies to every target. No list for a target: every command is refused.
   */
  readonly execAllowList?: Readonly<Record<string, readonly string[]>>;
}

/**
 * Programs that run other programs or arbitrary code: listing one would allow every command, so they
 * are refused even when the allow-list names them.
 */
export const EXEC_NEVER_ALLOWED: readonly string[] = [
  'sh',
  'bash',
  'dash',
  'ash',
  'zsh',
  'ksh',
  'csh',
  'tcsh',
  'fish',
  'busybox',
  'toybox',
  'env',
  'xargs',
  'nohup',
  'nice',
  'ionice',
  'timeout',
  'stdbuf',
  'setsid',
  'chroot',
  'nsenter',
  'unshare',
  'sudo',
  'su',
  'doas',
  'runuser',
  'script',
  'expect',
  'watch',
  'find',
  'awk',
  'gawk',
  'mawk',
  'sed',
  'perl',
  'python',
  'python2',
  'python3',
  'ruby',
  'node',
  'nodejs',
  'deno',
  'bun',
  'php',
  'lua',
  'tclsh',
  'java',
  'jshell',
  'eval',
  'exec',
  'nc',
  'ncat',
  'socat',
  'telnet',
  'ssh',
  'gdb',
  'strace',
];

/** Most bytes of one command item, and of the whole command. */
const ITEM_MAX = 4096;
const COMMAND_MAX = 32 * 1024;

function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

function baseName(program: string): string {
  const name = program.slice(program.lastIndexOf('/') + 1);
  // python3.12 → python3, so versioned interpreters are caught too.
  return name.replace(/(\d)\.\d+$/, '$1');
}

/**
 * command-allowed: the command is a list of 1-64 printable strings and its program is on the
 * operator's allow-list for this target, and is not a shell, interpreter or wrapper.
 */
export function commandAllowed(request: ExecutionRequest, options: PrecheckOptions): PrecheckOutcome {
  const command = request.params.command;
  if (!Array.isArray(command) || command.length === 0 || command.length > 64) {
    return fail('param "command" must be a list of 1 to 64 strings (the program, then its arguments)');
  }
  let total = 0;
  for (const [index, item] of command.entries()) {
    if (typeof item !== 'string' || item.length === 0 || item.length > ITEM_MAX || hasControl(item)) {
      return fail(
        `command item ${index} must be a non-empty printable string of at most ${ITEM_MAX} characters`,
      );
    }
    total += item.length;
  }
  if (total > COMMAND_MAX) return fail(`the command is longer than ${COMMAND_MAX} characters`);
  const program = command[0] as string;
  const base = baseName(program);
  if (EXEC_NEVER_ALLOWED.includes(base) || /^(python|perl|ruby|php|lua|node)\d*$/.test(base)) {
    return fail(
      `program ${quote(program, 200)} runs other programs or code, so it is never allowed (even when listed)`,
    );
  }
  const lists = options.execAllowList ?? {};
  const forTarget = Object.hasOwn(lists, request.target) ? lists[request.target] : undefined;
  const forAll = Object.hasOwn(lists, '*') ? lists['*'] : undefined;
  if (forTarget === undefined && forAll === undefined) {
    return fail(
      `no allow-list of exec commands is configured for target ${quote(request.target, 200)}: the operator must list the programs (execAllowList)`,
    );
  }
  const allowed = [...(forTarget ?? []), ...(forAll ?? [])];
  return allowed.includes(program)
    ? pass(`program ${quote(program, 200)} is on the allow-list for target ${quote(request.target, 200)}`)
    : fail(
        `program ${quote(program, 200)} is not on the allow-list for target ${quote(request.target, 200)}`,
      );
}
