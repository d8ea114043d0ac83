import { AUDIT_GENESIS_HASH, canonicalJson } from '@agent-safe/core';
import type { AuditEvent } from '@agent-safe/core';
import { newScanResult, scanCanonicalLine } from './canonical-line-scanner.js';
import { parseEventLine } from './event-line.js';
import { forEachLine } from './line-reader.js';
import { sha256Hex } from './sha256.js';
import { MAX_LINE_BYTES } from './tail.js';

/** Kinds of findings. `torn-tail`, `recovered-torn-line` and `non-canonical` are warnings. */
export type ProblemKind =
  | 'bad-json'
  | 'hash-mismatch'
  | 'chain-break'
  | 'sequence-gap'
  | 'torn-tail'
  | 'recovered-torn-line'
  | 'non-canonical';

/** One finding, located by line (1-based) and, when the line is an event, its sequence. */
export interface Problem {
  readonly line: number;
  readonly sequence?: number;
  readonly kind: ProblemKind;
  readonly message: string;
}

/** The result of {@link verifyAuditLog}. */
export interface VerifyReport {
  /** True when there are no problems (warnings do not make a log fail). */
  readonly ok: boolean;
  /** Lines that are valid events. */
  readonly events: number;
  /** Lines in the file. */
  readonly lines: number;
  /** Sequence and hash of the last valid event (0 and the genesis hash for an empty log). */
  readonly lastSequence: number;
  readonly lastHash: string;
  /** Evidence of tampering or damage (at most {@link MAX_REPORTED} listed). */
  readonly problems: Problem[];
  /** Problems found beyond those listed. */
  readonly problemsOmitted: number;
  /** Findings that are not tampering: a torn last line, a torn line acknowledged by a recovery event. */
  readonly warnings: Problem[];
}

/** Options of {@link verifyAuditLog}. */
export interface VerifyOptions {
  /** Called with the number of lines checked so far, after each chunk (several MiB) and at the end. */
  readonly onProgress?: (linesDone: number) => void;
}

/** Problems listed in a report; a log destroyed line by line would otherwise produce millions. */
export const MAX_REPORTED = 1000;
/** How many recent hashes are remembered to tell a reordered or inserted line from a deleted one. */
const RECENT = 4096;

interface BadLine {
  readonly line: number;
  readonly offset: number;
  readonly length: number;
  readonly sha256: string;
  readonly reason: string;
  readonly terminated: boolean;
}

interface TornLineRecord {
  readonly line_number?: unknown;
  readonly byte_offset?: unknown;
  readonly byte_length?: unknown;
  readonly sha256?: unknown;
}

/**
 * Verifies a log file: every line is a stored event whose `hash` is right, whose `prev_hash` is the
 * previous event's hash, and whose `sequence` starts at 1 and goes up by one. Streams the file, so logs
 * of any size can be checked in constant memory. Throws only when the file cannot be read.
 */
export async function verifyAuditLog(path: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  const problems: Problem[] = [];
  const warnings: Problem[] = [];
  let problemsOmitted = 0;
  const report = (problem: Problem) => {
    if (problems.length < MAX_REPORTED) problems.push(problem);
    else problemsOmitted++;
  };
  const warn = (problem: Problem) => {
    if (warnings.length < MAX_REPORTED) warnings.push(problem);
  };

  let lineNumber = 0;
  let events = 0;
  let previousHash = AUDIT_GENESIS_HASH;
  let previousSequence = 0;
  let pendingBad: BadLine | undefined;
  const recentHashes: string[] = new Array(RECENT);
  const recentLines = new Float64Array(RECENT);
  const scan = newScanResult();
  const scratch = { buffer: Buffer.allocUnsafe(64 * 1024) };

  const flushBad = () => {
    if (pendingBad === undefined) return;
    const bad = pendingBad;
    pendingBad = undefined;
    if (!bad.terminated) {
      warn({
        line: bad.line,
        kind: 'torn-tail',
        message: `line ${bad.line} (the last line, ${bad.length} bytes at byte ${bad.offset}) is incomplete: a write was cut short (e.g. by a crash); the next append acknowledges it with a recovery event`,
      });
    } else {
      report({ line: bad.line, kind: 'bad-json', message: `line ${bad.line} ${bad.reason}` });
    }
  };

  const findRecent = (hash: string): number => {
    for (let index = 0; index < RECENT; index++) {
      if (recentHashes[index] === hash) return recentLines[index]!;
    }
    return -1;
  };

  const checkChain = (line: number, sequence: number, prevHash: string, hash: string) => {
    if (prevHash !== previousHash) {
      report({ line, sequence, kind: 'chain-break', message: chainBreakMessage(line, sequence, prevHash) });
    } else if (sequence !== previousSequence + 1) {
      report({
        line,
        sequence,
        kind: 'sequence-gap',
        message:
          previousSequence === 0
            ? `line ${line}: the first event has sequence ${sequence}; a log starts at 1`
            : `line ${line}: sequence ${sequence} follows ${previousSequence} (expected ${previousSequence + 1}) although the hashes link`,
      });
    }
    // Resynchronise on this line so one deletion is one problem, not a cascade.
    previousHash = hash;
    previousSequence = sequence;
    recentHashes[line % RECENT] = hash;
    recentLines[line % RECENT] = line;
  };

  const chainBreakMessage = (line: number, sequence: number, prevHash: string): string => {
    const head = `line ${line} (sequence ${sequence}): prev_hash does not match the hash of the previous event`;
    if (previousSequence === 0 && previousHash === AUDIT_GENESIS_HASH) {
      return sequence > 1
        ? `${head}: it is the first event but has sequence ${sequence}; ${sequence - 1} event(s) were removed from the start of the log`
        : `${head}: the first event must have the genesis prev_hash; the start of the log was replaced`;
    }
    const linked = prevHash === AUDIT_GENESIS_HASH ? -1 : findRecent(prevHash);
    if (linked >= 0 && sequence < previousSequence) {
      return `${head}: it links to line ${linked} and its sequence ${sequence} comes after ${previousSequence}: lines were reordered`;
    }
    if (linked >= 0 && linked === line - 2) {
      return `${head}: it links to line ${linked}, so line ${line - 1} was inserted (or replaced)`;
    }
    if (linked >= 0) {
      return `${head}: it links to line ${linked} (sequence order ${previousSequence} → ${sequence}): lines were reordered`;
    }
    if (sequence > previousSequence + 1) {
      return `${head}: sequence jumped from ${previousSequence} to ${sequence}: ${sequence - previousSequence - 1} event(s) were deleted before this line (or lines were reordered)`;
    }
    if (sequence <= previousSequence) {
      return `${head}: sequence ${sequence} after ${previousSequence} is repeated or out of order: lines were reordered or a line was inserted`;
    }
    return `${head}: it links to an unknown hash: the previous line was replaced, or this line was inserted`;
  };

  const onLine = (
    buffer: Buffer,
    start: number,
    end: number,
    offset: number,
    terminated: boolean,
    tooLong: boolean,
  ) => {
    lineNumber++;
    const line = lineNumber;
    if (tooLong) {
      flushBad();
      report({
        line,
        kind: 'bad-json',
        message: `line ${line} is longer than ${MAX_LINE_BYTES} bytes (damage)`,
      });
      return;
    }
    let sequence: number;
    let prevHash: string;
    let storedHash: string;
    let computedHash: string;
    let event: AuditEvent | undefined;
    if (scanCanonicalLine(buffer, start, end, scan) && fastShapeOk(buffer, scan)) {
      // Fast path: hash the line's bytes with the `hash` member cut out (see canonical-line-scanner.ts).
      sequence = parseDigits(buffer, scan.sequenceValueStart, scan.sequenceValueEnd);
      prevHash = buffer.toString('latin1', scan.prevHashValueStart + 1, scan.prevHashValueEnd - 1);
      storedHash = buffer.toString('latin1', scan.hashValueStart + 1, scan.hashValueEnd - 1);
      let cutStart: number;
      let cutEnd: number;
      if (buffer[scan.hashMemberStart - 1] === 0x2c) {
        cutStart = scan.hashMemberStart - 1;
        cutEnd = scan.hashValueEnd;
      } else {
        cutStart = scan.hashMemberStart;
        cutEnd = scan.hashValueEnd + 1;
      }
      const length = end - start - (cutEnd - cutStart);
      if (scratch.buffer.length < length) scratch.buffer = Buffer.allocUnsafe(length * 2);
      buffer.copy(scratch.buffer, 0, start, cutStart);
      buffer.copy(scratch.buffer, cutStart - start, cutEnd, end);
      computedHash = sha256Hex(scratch.buffer.subarray(0, length));
      if (isRecoveryType(buffer, scan.eventTypeValueStart, scan.eventTypeValueEnd)) {
        const parsed = parseEventLine(buffer.subarray(start, end));
        if (parsed.ok) event = parsed.event;
      }
    } else {
      const parsed = parseEventLine(buffer.subarray(start, end));
      if (!parsed.ok) {
        flushBad();
        const bytes = buffer.subarray(start, end);
        pendingBad = {
          line,
          offset,
          length: bytes.length,
          sha256: sha256Hex(bytes),
          reason: parsed.reason,
          terminated,
        };
        return;
      }
      event = parsed.event;
      sequence = event.sequence;
      prevHash = event.prev_hash;
      storedHash = event.hash;
      const { hash: _stored, ...rest } = event;
      computedHash = sha256Hex(canonicalJson(rest));
      if (canonicalJson(event) !== parsed.text) {
        warn({
          line,
          sequence,
          kind: 'non-canonical',
          message: `line ${line} (sequence ${sequence}) is not in canonical form (its content still matches its hash): it was rewritten by another tool`,
        });
      }
    }
    // A torn line is forgiven only when the very next line is a recovery event that names it exactly.
    if (pendingBad !== undefined) {
      const bad = pendingBad;
      const torn =
        event?.event_type === 'recovery' ? (event.torn_line as TornLineRecord | undefined) : undefined;
      if (
        torn !== undefined &&
        torn !== null &&
        torn.sha256 === bad.sha256 &&
        torn.byte_length === bad.length &&
        torn.byte_offset === bad.offset &&
        torn.line_number === bad.line &&
        computedHash === storedHash
      ) {
        pendingBad = undefined;
        warn({
          line: bad.line,
          kind: 'recovered-torn-line',
          message: `line ${bad.line} is a torn write (${bad.length} bytes) acknowledged by the recovery event on line ${line} (sequence ${sequence})`,
        });
      } else {
        flushBad();
      }
    }
    if (computedHash !== storedHash) {
      report({
        line,
        sequence,
        kind: 'hash-mismatch',
        message: `line ${line} (sequence ${sequence}) was modified: its content hashes to ${computedHash}, but its hash field says ${storedHash}`,
      });
    }
    if (!terminated) {
      warn({
        line,
        sequence,
        kind: 'torn-tail',
        message: `line ${line} (sequence ${sequence}) is a complete event but the file does not end with a newline; the next append adds it`,
      });
    }
    events++;
    checkChain(line, sequence, prevHash, storedHash);
  };

  await forEachLine(path, onLine, () => options.onProgress?.(lineNumber));
  flushBad();
  options.onProgress?.(lineNumber);
  return {
    ok: problems.length === 0,
    events,
    lines: lineNumber,
    lastSequence: previousSequence,
    lastHash: previousHash,
    problems,
    problemsOmitted,
    warnings,
  };
}

function isHex64String(buffer: Buffer, start: number, end: number): boolean {
  if (end - start !== 66 || buffer[start] !== 0x22) return false;
  for (let index = start + 1; index < end - 1; index++) {
    const byte = buffer[index]!;
    if (!((byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66))) return false;
  }
  return true;
}

/** The chain members have the stored-event shape; anything else goes to the slow path, which says why. */
function fastShapeOk(buffer: Buffer, scan: ReturnType<typeof newScanResult>): boolean {
  if (scan.hashMemberStart < 0 || scan.prevHashValueStart < 0 || scan.sequenceValueStart < 0) return false;
  if (scan.eventTypeValueStart < 0 || buffer[scan.eventTypeValueStart] !== 0x22) return false;
  if (!isHex64String(buffer, scan.hashValueStart, scan.hashValueEnd)) return false;
  if (!isHex64String(buffer, scan.prevHashValueStart, scan.prevHashValueEnd)) return false;
  const digits = scan.sequenceValueEnd - scan.sequenceValueStart;
  if (digits < 1 || digits > 15) return false;
  for (let index = scan.sequenceValueStart; index < scan.sequenceValueEnd; index++) {
    const byte = buffer[index]!;
    if (byte < 0x30 || byte > 0x39) return false;
  }
  return buffer[scan.sequenceValueStart] !== 0x30;
}

function parseDigits(buffer: Buffer, start: number, end: number): number {
  let value = 0;
  for (let index = start; index < end; index++) value = value * 10 + (buffer[index]! - 0x30);
  return value;
}

const RECOVERY = Buffer.from('"recovery"');

function isRecoveryType(buffer: Buffer, start: number, end: number): boolean {
  return end - start === RECOVERY.length && buffer.compare(RECOVERY, 0, RECOVERY.length, start, end) === 0;
}
