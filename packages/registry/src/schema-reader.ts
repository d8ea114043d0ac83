import type { Issue } from '@agent-safe/core';
import { closestName, describeValue, quoteString } from './describe-value.js';
import { isPlainObject } from './json-value.js';

/** `base.key`, or `key` at the top. */
export function fieldPath(base: string, key: string): string {
  return base === '' ? key : `${base}.${key}`;
}

/**
 * Reads fields of untrusted YAML-shaped data and collects every problem as an Issue naming the file,
 * the field path and what was expected, instead of stopping at the first.
 */
export class SchemaReader {
  readonly issues: Issue[] = [];
  readonly #file: string | undefined;

  constructor(file: string | undefined) {
    this.#file = file;
  }

  get errorCount(): number {
    let count = 0;
    for (const issue of this.issues) if (issue.severity !== 'warning') count += 1;
    return count;
  }

  get hasErrors(): boolean {
    return this.errorCount > 0;
  }

  error(path: string, message: string): void {
    this.issues.push(this.#issue(path, message, 'error'));
  }

  warning(path: string, message: string): void {
    this.issues.push(this.#issue(path, message, 'warning'));
  }

  #issue(path: string, message: string, severity: 'error' | 'warning'): Issue {
    const issue: { message: string; severity: 'error' | 'warning'; file?: string; path?: string } = {
      message,
      severity,
    };
    if (this.#file !== undefined) issue.file = this.#file;
    if (path !== '') issue.path = path;
    return issue;
  }

  /** The value as a mapping, or undefined (with an issue) when it is not one. */
  mapping(value: unknown, path: string, what = 'a mapping'): Record<string, unknown> | undefined {
    if (isPlainObject(value)) return value;
    this.error(path, `expected ${what}, got ${describeValue(value)}`);
    return undefined;
  }

  /** Reports keys outside `known` (typos), except extension keys starting with `x-`. */
  rejectUnknownKeys(record: Record<string, unknown>, path: string, known: readonly string[]): void {
    for (const key of Object.keys(record)) {
      if (known.includes(key) || key.startsWith('x-')) continue;
      const suggestion = closestName(key, known);
      this.error(
        fieldPath(path, key.length > 64 ? quoteString(key) : key),
        `unknown field${suggestion ? `; did you mean "${suggestion}"?` : ''} (known fields: ${known.join(', ')}; prefix extension fields with "x-")`,
      );
    }
  }

  /** A required or optional string field. Returns undefined when absent or wrong. */
  string(
    record: Record<string, unknown>,
    key: string,
    path: string,
    options: { required?: boolean; nonEmpty?: boolean; pattern?: RegExp; patternHint?: string } = {},
  ): string | undefined {
    const where = fieldPath(path, key);
    const value = Object.hasOwn(record, key) ? record[key] : undefined;
    if (value === undefined) {
      if (options.required) this.error(where, 'required field is missing');
      return undefined;
    }
    if (typeof value !== 'string') {
      this.error(where, `expected ${options.patternHint ?? 'a string'}, got ${describeValue(value)}`);
      return undefined;
    }
    if (options.nonEmpty && value.trim() === '') {
      this.error(where, 'expected a non-empty string');
      return undefined;
    }
    if (options.pattern && !options.pattern.test(value)) {
      this.error(
        where,
        `expected ${options.patternHint ?? `a value matching ${options.pattern.source}`}, got ${describeValue(value)}`,
      );
      return undefined;
    }
    return value;
  }

  /** A boolean field with a default. */
  boolean(record: Record<string, unknown>, key: string, path: string, fallback: boolean): boolean {
    const value = Object.hasOwn(record, key) ? record[key] : undefined;
    if (value === undefined) return fallback;
    if (typeof value !== 'boolean') {
      this.error(fieldPath(path, key), `expected true or false, got ${describeValue(value)}`);
      return fallback;
    }
    return value;
  }

  /** A list of strings (null or absent → empty). Duplicates are reported. */
  stringList(
    record: Record<string, unknown>,
    key: string,
    path: string,
    options: { required?: boolean; nonEmpty?: boolean } = {},
  ): string[] {
    const where = fieldPath(path, key);
    const value = Object.hasOwn(record, key) ? record[key] : undefined;
    if (value === undefined || value === null) {
      if (options.required) this.error(where, 'required field is missing; expected a list of strings');
      return [];
    }
    if (!Array.isArray(value)) {
      this.error(where, `expected a list of strings, got ${describeValue(value)}`);
      return [];
    }
    if (options.nonEmpty && value.length === 0) this.error(where, 'expected at least one entry');
    const result: string[] = [];
    const seen = new Set<string>();
    value.forEach((item, index) => {
      if (typeof item !== 'string' || item.trim() === '') {
        this.error(`${where}[${index}]`, `expected a non-empty string, got ${describeValue(item)}`);
      } else if (seen.has(item)) {
        this.error(`${where}[${index}]`, `duplicate entry ${quoteString(item)}`);
      } else {
        seen.add(item);
        result.push(item);
      }
    });
    return result;
  }

  /** A list field (null or absent → empty), each item handed to `read` with its index path. */
  list<T>(
    record: Record<string, unknown>,
    key: string,
    path: string,
    read: (item: unknown, itemPath: string) => T | undefined,
  ): T[] {
    const where = fieldPath(path, key);
    const value = Object.hasOwn(record, key) ? record[key] : undefined;
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) {
      this.error(where, `expected a list, got ${describeValue(value)}`);
      return [];
    }
    const result: T[] = [];
    value.forEach((item, index) => {
      const read_ = read(item, `${where}[${index}]`);
      if (read_ !== undefined) result.push(read_);
    });
    return result;
  }

  /** An optional finite number. */
  number(record: Record<string, unknown>, key: string, path: string): number | undefined {
    const value = Object.hasOwn(record, key) ? record[key] : undefined;
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      this.error(fieldPath(path, key), `expected a number, got ${describeValue(value)}`);
      return undefined;
    }
    return value;
  }

  /** An optional integer with a lower bound. */
  integer(record: Record<string, unknown>, key: string, path: string, minimum: number): number | undefined {
    const value = Object.hasOwn(record, key) ? record[key] : undefined;
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
      this.error(fieldPath(path, key), `expected a whole number, got ${describeValue(value)}`);
      return undefined;
    }
    if (value < minimum) {
      this.error(fieldPath(path, key), `expected a whole number of at least ${minimum}, got ${value}`);
      return undefined;
    }
    return value;
  }
}
