import { AgentSafeError } from '@agent-safe/core';
import { parseDocument } from 'yaml';

/** Limits applied to every YAML file Agent-Safe reads. */
export interface YamlLimits {
  /** Largest accepted file, in bytes (default 4 MiB). */
  readonly maxBytes?: number;
  /** Most alias expansions accepted (default 100): a billion-laughs file fails fast instead of hanging. */
  readonly maxAliasCount?: number;
}

/** Default limit on a YAML file's size. */
export const DEFAULT_MAX_YAML_BYTES = 4 * 1024 * 1024;

/**
 * Parses untrusted YAML defensively: size and alias-expansion limits, duplicate keys rejected, only the
 * YAML 1.2 core schema (no language-specific tags). Throws `YAML_INVALID` naming the file and position.
 */
export function parseYaml(text: string, file: string, limits: YamlLimits = {}): unknown {
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_YAML_BYTES;
  if (Buffer.byteLength(text, 'utf8') > maxBytes) {
    throw new AgentSafeError(
      'YAML_INVALID',
      `${file}: file is larger than the ${maxBytes}-byte limit for YAML; split it or raise maxBytes`,
      { details: { file } },
    );
  }
  const document = parseDocument(text, {
    schema: 'core',
    uniqueKeys: true,
    prettyErrors: true,
    strict: true,
  });
  const problems = [...document.errors, ...document.warnings];
  if (problems.length > 0) {
    throw new AgentSafeError('YAML_INVALID', `${file}: not valid YAML`, {
      issues: problems.map((problem) => ({
        file,
        path: problem.linePos
          ? `line ${problem.linePos[0].line}, column ${problem.linePos[0].col}`
          : undefined,
        message: (problem.message.split('\n')[0] ?? problem.message).replace(/ at line \d+, column \d+:?$/, ''),
      })),
      details: { file },
    });
  }
  try {
    return document.toJS({ maxAliasCount: limits.maxAliasCount ?? 100 });
  } catch (error) {
    throw new AgentSafeError(
      'YAML_INVALID',
      `${file}: ${(error as Error).message} (alias expansion is limited to guard against "billion laughs" files)`,
      { cause: error, details: { file } },
    );
  }
}
