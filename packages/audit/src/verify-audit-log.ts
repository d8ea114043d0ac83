import { AUDIT_GENESIS_HASH, AgentSafeError, canonicalJson } from '@agent-safe/core';
import type { AuditEvent } from '@agent-safe/core';
import { newScanResult, scanCanonicalLine } from './canonical-line-scanner.js';
import {
  CHECKPOINT_EVENT_TYPE,
  type CheckpointLine,
  type SignedCheckpoint,
  checkpointShapeProblem,
  checkpointSignatureProblem,
  readCheckpointFile,
} from './checkpoint.js';
import type { CheckpointKey } from './checkpoint-key.js';
import { parseEventLine } from './event-line.js';
import { forEachLine } from './line-reader.js';
import { type LogFile, listLogFiles } from './log-files.js';
import { sha256Hex } from './sha256.js';
import { CONTINUED_EVENT_TYPE, MAX_LINE_BYTES, logIdOf } from './tail.js';

/** Kinds of findings. `torn-tail`, `recovered-torn-line` and `non-canonical` are warnings. */
export type ProblemKind =
  | 'bad-json'
  | 'hash-mismatch'
  | 'chain-break'
  | 'sequence-gap'
  | 'torn-tail'
  | 'recovered-torn-line'
  | 'non-canonical'
  | 'line-too-long'
  | 'checkpoint-invalid'
  | 'checkpoint-mismatch'
  | 'truncated'
  | 'log-id-mismatch'
  | 'anchor-mismatch'
  | 'missing-file';

/** One finding, located by line (1-based) and, when the line is an event, its sequence. */
export interface Problem {
  /** The file the line is in (for a rotated log, one of its files). */
  readonly file?: string;
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
  /** The log's id (hash of its genesis event, carried by continuation events), when it has an event. */
  readonly logId: string | undefined;
  /** The files verified, in chain order (one unless the log was rotated). */
  readonly files: string[];
  /** Signed checkpoints checked (from the checkpoint file and the log itself). */
  readonly checkpoints: CheckpointSummary;
  /** What this verification establishes, in plain words, given what it was given. */
  readonly proves: string[];
  /** What it cannot establish with what it was given, and what would. */
  readonly cannotProve: string[];
}

/** What was learnt from checkpoints. */
export interface CheckpointSummary {
  /** The checkpoint file read, if any. */
  readonly file: string | undefined;
  /** Whether a key was given to check signatures. */
  readonly keyId: string | undefined;
  /** Checkpoints in the file / in the log. */
  readonly inFile: number;
  readonly inLog: number;
  /** Checkpoints whose signature verified with the key (0 without a key). */
  readonly verified: number;
  /** The highest sequence covered by a checkpoint that verified (or, without a key, that matched). */
  readonly lastSequence: number;
  /** When that checkpoint was signed. */
  readonly lastTime: string | undefined;
}

/** Options of {@link verifyAuditLog}. */
export interface VerifyOptions {
  /** Called with the number of lines checked so far, after each chunk (several MiB) and at the end. */
  readonly onProgress?: (linesDone: number) => void;
  /** A checkpoint file (`<log>.checkpoints`, ideally a copy kept off the box) to check the log against. */
  readonly checkpoints?: string;
  /** Key to check checkpoint signatures with (an HS256 secret or an Ed25519 public or private key). */
  readonly key?: CheckpointKey;
  /** An anchor kept elsewhere: the log must contain an event with this hash (at expectSequence if given). */
  readonly expectHead?: string;
  /** An anchor kept elsewhere: the log must reach this sequence (with expectHead: hold it there). */
  readonly expectSequence?: number;
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
 * Verifies a log: every line is a stored event in exactly the canonical form the writer produces, whose
 * `hash` is right, whose `prev_hash` is the previous event's hash, and whose `sequence` starts at 1 and
 * goes up by one, across rotated files. With a checkpoint file and a key it also proves that no event
 * up to the last signed checkpoint was removed, altered or reordered and that the tail was not cut
 * below it; `report.proves` and `report.cannotProve` say what was and was not established. Streams the
 * files, so logs of any size are checked in constant memory. Throws only when a file cannot be read.
 */
export async function verifyAuditLog(path: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  const { key, expectHead, expectSequence } = options;
  if (expectHead !== undefined && (typeof expectHead !== 'string' || !/^[0-9a-f]{64}$/.test(expectHead))) {
    throw new AgentSafeError('USAGE', 'the expected head must be a hash of 64 lowercase hex digits', {
      issues: [{ path: 'expectHead', message: 'pass the `hash` of an event, as `audit head` prints it' }],
    });
  }
  if (expectSequence !== undefined && (!Number.isSafeInteger(expectSequence) || expectSequence < 1)) {
    throw new AgentSafeError(
      'USAGE',
      `the expected sequence must be a positive integer, got ${String(expectSequence)}`,
      {
        issues: [
          { path: 'expectSequence', message: 'pass the `sequence` of an event, as `audit head` prints it' },
        ],
      },
    );
  }
  const problems: Problem[] = [];
  const warnings: Problem[] = [];
  let problemsOmitted = 0;
  let currentFile = '';
  const report = (problem: Problem) => {
    if (problems.length < MAX_REPORTED) problems.push({ file: currentFile, ...problem });
    else problemsOmitted++;
  };
  const warn = (problem: Problem) => {
    if (warnings.length < MAX_REPORTED) warnings.push({ file: currentFile, ...problem });
  };

  // Checkpoints kept beside (or away from) the log, by the sequence they cover.
  const fileCheckpoints = new Map<number, { checkpoint: SignedCheckpoint; line: number }[]>();
  let inFile = 0;
  let verified = 0;
  let lastCheckpointSequence = 0;
  let lastCheckpointTime: string | undefined;
  let fileCheckpointMax: { sequence: number; line: number } | undefined;
  if (options.checkpoints !== undefined) {
    currentFile = options.checkpoints;
    const lines: CheckpointLine[] = await readCheckpointFile(options.checkpoints);
    for (let index = 0; index < lines.length; index++) {
      const entry = lines[index]!;
      if (!entry.ok) {
        if (entry.torn) {
          warn({
            line: entry.line,
            kind: 'torn-tail',
            message: `checkpoint file line ${entry.line} is not JSON: a write cut short (e.g. by a crash); it claims nothing and is skipped`,
          });
        } else if (!entry.terminated && index === lines.length - 1) {
          warn({
            line: entry.line,
            kind: 'torn-tail',
            message: `checkpoint file line ${entry.line} is incomplete (a write cut short)`,
          });
        } else {
          report({
            line: entry.line,
            kind: 'checkpoint-invalid',
            message: `checkpoint file line ${entry.line} ${entry.reason}`,
          });
        }
        continue;
      }
      inFile++;
      const { checkpoint } = entry;
      if (key !== undefined) {
        if (checkpoint.key_id !== key.keyId) {
          warn({
            line: entry.line,
            kind: 'checkpoint-invalid',
            message: `checkpoint file line ${entry.line} is signed by key "${checkpoint.key_id}", not the key given ("${key.keyId}"): not checked`,
          });
          continue;
        }
        const problem = checkpointSignatureProblem(checkpoint, key);
        if (problem !== undefined) {
          report({
            line: entry.line,
            kind: 'checkpoint-invalid',
            message: `checkpoint file line ${entry.line} (sequence ${checkpoint.sequence}): ${problem}`,
          });
          continue;
        }
        verified++;
      }
      const list = fileCheckpoints.get(checkpoint.sequence);
      if (list === undefined) fileCheckpoints.set(checkpoint.sequence, [{ checkpoint, line: entry.line }]);
      else list.push({ checkpoint, line: entry.line });
      if (fileCheckpointMax === undefined || checkpoint.sequence > fileCheckpointMax.sequence) {
        fileCheckpointMax = { sequence: checkpoint.sequence, line: entry.line };
      }
    }
  }
  const checkFileCheckpoints = fileCheckpoints.size > 0;

  let lineNumber = 0;
  let totalLines = 0;
  let events = 0;
  let previousHash = AUDIT_GENESIS_HASH;
  let previousSequence = 0;
  let pendingBad: BadLine | undefined;
  let logId: string | undefined;
  let inLog = 0;
  let fileStart = false;
  let startsAt = 1;
  let endsWithCheckpoint = false;
  let anchorHashAt: string | undefined;
  let anchorFoundAt: number | undefined;
  const recentHashes: string[] = new Array(RECENT);
  const recentLines = new Float64Array(RECENT);
  const scan = newScanResult();
  const scratch = { buffer: Buffer.allocUnsafe(64 * 1024) };
  const matchedFileCheckpoints = new Set<number>();

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

  const checkChain = (line: number, sequence: number, prevHash: string, hash: string, continued: boolean) => {
    if (fileStart && previousSequence === 0 && continued && sequence > 1) {
      // The oldest file here continues an earlier one that is not here (removed by retention, or not
      // copied): nothing before it can be checked, which is said, not hidden.
      startsAt = sequence;
      warn({
        line,
        sequence,
        kind: 'missing-file',
        message: `${currentFile} continues an earlier file that is not here (the log starts at sequence ${sequence}): events 1–${sequence - 1} are not verified`,
      });
    } else if (fileStart && previousSequence > 0 && prevHash !== previousHash) {
      report({
        line,
        sequence,
        kind: 'missing-file',
        message:
          sequence > previousSequence + 1
            ? `${currentFile} starts at sequence ${sequence}, but the file before it ends at ${previousSequence}: ${sequence - previousSequence - 1} event(s) are missing between them (a rotated file was removed)`
            : `${currentFile} (line ${line}, sequence ${sequence}) does not continue the file before it (which ends at sequence ${previousSequence})`,
      });
    } else if (prevHash !== previousHash) {
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
    fileStart = false;
    if (checkFileCheckpoints) {
      const list = fileCheckpoints.get(sequence);
      if (list !== undefined) {
        for (const { checkpoint, line: checkpointLine } of list) {
          if (checkpoint.head_hash !== hash) {
            report({
              line,
              sequence,
              kind: 'checkpoint-mismatch',
              message: `line ${line} (sequence ${sequence}): checkpoint file line ${checkpointLine} says the event with this sequence has hash ${checkpoint.head_hash}, the log has ${hash}: the event was altered, or the log rewritten and its hashes recomputed`,
            });
          } else if (logId !== undefined && checkpoint.log_id !== logId) {
            report({
              line,
              sequence,
              kind: 'log-id-mismatch',
              message: `checkpoint file line ${checkpointLine} is for log ${checkpoint.log_id}, this log's id is ${logId}: the log was replaced from its first event`,
            });
          } else {
            matchedFileCheckpoints.add(checkpointLine);
            if (sequence > lastCheckpointSequence) {
              lastCheckpointSequence = sequence;
              lastCheckpointTime = checkpoint.time;
            }
          }
        }
      }
    }
    if (expectHead !== undefined) {
      if (hash === expectHead && anchorFoundAt === undefined) anchorFoundAt = sequence;
      if (sequence === expectSequence) anchorHashAt = hash;
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

  /** Checks a checkpoint or continuation event the log itself holds (before the chain moves past it). */
  const checkLogOwnEvent = (line: number, event: AuditEvent) => {
    if (event.event_type === CONTINUED_EVENT_TYPE) {
      if (logId !== undefined && event.log_id !== logId) {
        report({
          line,
          sequence: event.sequence,
          kind: 'log-id-mismatch',
          message: `line ${line}: this file continues log ${String(event.log_id)}, but the files before it are log ${logId}`,
        });
      }
      return;
    }
    inLog++;
    const candidate = {
      ...((event.checkpoint ?? {}) as Record<string, unknown>),
      signature: event.signature,
    };
    const shape = checkpointShapeProblem(candidate);
    if (shape !== undefined) {
      report({
        line,
        sequence: event.sequence,
        kind: 'checkpoint-invalid',
        message: `line ${line}: checkpoint event ${shape}`,
      });
      return;
    }
    const checkpoint = candidate as unknown as SignedCheckpoint;
    if (checkpoint.sequence !== previousSequence || checkpoint.head_hash !== previousHash) {
      report({
        line,
        sequence: event.sequence,
        kind: 'checkpoint-mismatch',
        message: `line ${line}: the checkpoint signed sequence ${checkpoint.sequence} with hash ${checkpoint.head_hash}, but the event before it is sequence ${previousSequence} with hash ${previousHash}: events before it were altered, removed or re-chained`,
      });
      return;
    }
    if (logId !== undefined && checkpoint.log_id !== logId) {
      report({
        line,
        sequence: event.sequence,
        kind: 'log-id-mismatch',
        message: `line ${line}: the checkpoint is for log ${checkpoint.log_id}, this log's id is ${logId}: the log was replaced from its first event`,
      });
      return;
    }
    if (key === undefined) return;
    if (checkpoint.key_id !== key.keyId) {
      warn({
        line,
        sequence: event.sequence,
        kind: 'checkpoint-invalid',
        message: `line ${line}: checkpoint signed by key "${checkpoint.key_id}", not the key given ("${key.keyId}"): not checked`,
      });
      return;
    }
    const problem = checkpointSignatureProblem(checkpoint, key);
    if (problem !== undefined) {
      report({
        line,
        sequence: event.sequence,
        kind: 'checkpoint-invalid',
        message: `line ${line}: checkpoint ${problem}`,
      });
      return;
    }
    verified++;
    if (checkpoint.sequence > lastCheckpointSequence) {
      lastCheckpointSequence = checkpoint.sequence;
      lastCheckpointTime = checkpoint.time;
    }
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
    totalLines++;
    const line = lineNumber;
    if (tooLong) {
      flushBad();
      report({
        line,
        kind: 'line-too-long',
        message: `line ${line} is longer than ${MAX_LINE_BYTES} bytes: no event the writer stores is that long (damage, or not an audit log); its bytes were skipped`,
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
      if (logId === undefined || isSpecialType(buffer, scan.eventTypeValueStart, scan.eventTypeValueEnd)) {
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
        // Readers disagree on such a line (duplicate keys: JSON.parse keeps the last, grep sees both),
        // and the writer never produces one: it is not accepted as the writer's record.
        report({
          line,
          sequence,
          kind: 'non-canonical',
          message: `line ${line} (sequence ${sequence}) is not exactly the canonical form the writer produces (${nonCanonicalReason(parsed.text)}): it was written or rewritten by something else`,
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
    endsWithCheckpoint = event?.event_type === CHECKPOINT_EVENT_TYPE;
    if (event !== undefined) {
      if (logId === undefined) logId = logIdOf(event);
      if (event.event_type === CHECKPOINT_EVENT_TYPE || event.event_type === CONTINUED_EVENT_TYPE) {
        checkLogOwnEvent(line, event);
      }
    }
    checkChain(line, sequence, prevHash, storedHash, event?.event_type === CONTINUED_EVENT_TYPE);
  };

  const files: LogFile[] = await listLogFiles(path);
  for (const file of files) {
    currentFile = file.path;
    lineNumber = 0;
    fileStart = true;
    await forEachLine(file.path, onLine, () => options.onProgress?.(totalLines));
    flushBad();
  }
  options.onProgress?.(totalLines);

  if (fileCheckpointMax !== undefined && fileCheckpointMax.sequence > previousSequence) {
    report({
      line: lineNumber,
      sequence: previousSequence,
      kind: 'truncated',
      message:
        previousSequence === 0
          ? `the log has no events, but checkpoint file line ${fileCheckpointMax.line} covers sequence ${fileCheckpointMax.sequence}: the history was deleted`
          : `the log ends at sequence ${previousSequence}, but checkpoint file line ${fileCheckpointMax.line} covers sequence ${fileCheckpointMax.sequence}: ${fileCheckpointMax.sequence - previousSequence} event(s) were cut from its end`,
    });
  }
  if (expectSequence !== undefined || expectHead !== undefined) {
    const anchor = `${expectSequence !== undefined ? `sequence ${expectSequence}` : ''}${expectSequence !== undefined && expectHead !== undefined ? ' with ' : ''}${expectHead !== undefined ? `hash ${expectHead}` : ''}`;
    let problem: string | undefined;
    if (expectSequence !== undefined && previousSequence < expectSequence) {
      problem = `the log ends at sequence ${previousSequence}, before the expected ${anchor}: events were cut from its end (or the whole log replaced)`;
    } else if (expectHead !== undefined && expectSequence !== undefined && anchorHashAt !== expectHead) {
      problem = `the event with sequence ${expectSequence} has hash ${anchorHashAt ?? '(none)'}, not the expected ${expectHead}: the log was rewritten up to there`;
    } else if (expectHead !== undefined && expectSequence === undefined && anchorFoundAt === undefined) {
      problem = `no event has the expected hash ${expectHead}: the log was rewritten or cut before it`;
    }
    if (problem !== undefined) {
      report({ line: lineNumber, sequence: previousSequence, kind: 'anchor-mismatch', message: problem });
    }
  }

  const ok = problems.length === 0;
  const { proves, cannotProve } = explain({
    ok,
    lastSequence: previousSequence,
    checkpointsFile: options.checkpoints,
    keyId: key?.keyId,
    lastCheckpointSequence,
    lastCheckpointTime,
    inLog,
    anchor: expectHead !== undefined || expectSequence !== undefined,
    startsAt,
    endsWithCheckpoint,
  });
  return {
    ok,
    events,
    lines: totalLines,
    lastSequence: previousSequence,
    lastHash: previousHash,
    problems,
    problemsOmitted,
    warnings,
    logId,
    files: files.map((file) => file.path),
    checkpoints: {
      file: options.checkpoints,
      keyId: key?.keyId,
      inFile,
      inLog,
      verified,
      lastSequence: lastCheckpointSequence,
      lastTime: lastCheckpointTime,
    },
    proves,
    cannotProve,
  };
}

/** The plain-words account of what a verification with these inputs establishes. */
function explain(facts: {
  ok: boolean;
  lastSequence: number;
  checkpointsFile: string | undefined;
  keyId: string | undefined;
  lastCheckpointSequence: number;
  lastCheckpointTime: string | undefined;
  inLog: number;
  anchor: boolean;
  startsAt: number;
  /** The last event is a checkpoint (covering the one before it): nothing after the checkpoint. */
  endsWithCheckpoint: boolean;
}): { proves: string[]; cannotProve: string[] } {
  const proves: string[] = [];
  const cannotProve: string[] = [];
  if (!facts.ok) {
    proves.push('the log was altered or damaged: see the problems listed');
    return { proves, cannotProve };
  }
  proves.push(
    `every line is an event in the writer's canonical form whose hash matches its content, and each of the ${facts.lastSequence} event(s) links to the one before it (nothing removed, inserted or reordered without recomputing every later hash)`,
  );
  const covered = facts.lastCheckpointSequence;
  if (facts.keyId !== undefined && covered > 0) {
    proves.push(
      `events ${facts.startsAt}–${covered} are exactly those the writer holding key "${facts.keyId}" wrote (checkpoint signed ${facts.lastCheckpointTime ?? ''}): none removed, altered or reordered, and the log was not rewritten with recomputed hashes up to there`,
    );
    if (facts.checkpointsFile !== undefined) {
      proves.push(
        `the log was not cut below sequence ${covered}, the last checkpoint in ${facts.checkpointsFile}`,
      );
    }
  } else if (facts.checkpointsFile !== undefined && covered > 0) {
    proves.push(
      `the log agrees with ${facts.checkpointsFile} up to sequence ${covered} (without the key, not that the checkpoints are genuine)`,
    );
  }
  if (facts.anchor) proves.push('the log holds the anchor given (--expect-head / --expect-sequence)');
  if (facts.keyId === undefined) {
    cannotProve.push(
      facts.inLog > 0 || facts.checkpointsFile !== undefined
        ? 'that the checkpoints are genuine, so not that the log was not rewritten with every hash recomputed (pass --key)'
        : 'that the log was not rewritten from some event on with every later hash recomputed: the chain has no secret (use signed checkpoints and --key)',
    );
  } else if (covered === 0) {
    cannotProve.push('anything beyond the chain: no checkpoint signed with the key given was found');
  }
  if (facts.checkpointsFile === undefined && !facts.anchor) {
    cannotProve.push(
      'that no events were cut from the end of the log, or the whole log deleted and restarted (pass --checkpoints FILE kept off the box, or --expect-head / --expect-sequence)',
    );
  }
  const uncovered = facts.endsWithCheckpoint ? facts.lastSequence - 1 : facts.lastSequence;
  if (covered > 0 && covered < uncovered) {
    const range =
      covered + 1 === facts.lastSequence
        ? `event ${facts.lastSequence}`
        : `events ${covered + 1}–${facts.lastSequence}`;
    cannotProve.push(
      `anything about ${range} beyond the chain: no checkpoint covers it yet (the writer adds one on close)`,
    );
  }
  if (facts.startsAt > 1) {
    cannotProve.push(`anything about events 1–${facts.startsAt - 1}: the files holding them are not here`);
  }
  if (facts.checkpointsFile !== undefined) {
    cannotProve.push(
      'that the checkpoint file itself was not cut short: keep a copy off the box (shipping) or the last head elsewhere',
    );
  }
  return { proves, cannotProve };
}

/** A short account of why a line is not canonical, for the message. */
function nonCanonicalReason(text: string): string {
  try {
    const reparsed = canonicalJson(JSON.parse(text));
    if (/^\{.*\}$/.test(text) && /\s/.test(text.replace(/"(?:[^"\\]|\\.)*"/g, '')))
      return 'whitespace between tokens';
    const keys = [...text.matchAll(/"((?:[^"\\]|\\.)*)"\s*:/g)].length;
    const canonicalKeys = [...reparsed.matchAll(/"((?:[^"\\]|\\.)*)"\s*:/g)].length;
    if (keys > canonicalKeys) return 'a duplicated key: JSON readers and grep disagree on what it says';
    if (reparsed.length === text.length)
      return 'keys out of order, or numbers or escapes written differently';
    return 'numbers or escapes written differently';
  } catch {
    return 'not canonical JSON';
  }
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

const SPECIAL_TYPES = ['"recovery"', '"checkpoint"', '"log_continued"'].map((type) => Buffer.from(type));

/** Event types whose content verify reads: recovery, checkpoint and continuation events. */
function isSpecialType(buffer: Buffer, start: number, end: number): boolean {
  const length = end - start;
  for (const type of SPECIAL_TYPES) {
    if (length === type.length && buffer.compare(type, 0, type.length, start, end) === 0) return true;
  }
  return false;
}
