import type { ActionDefinition } from '@agent-safe/core';
import { MASKED_VALUE } from './generate-rollback.js';

type State = Readonly<Record<string, unknown>>;
type Diff = Readonly<Record<string, { readonly before: unknown; readonly after: unknown }>>;

/** A state capture as written to the audit log: sensitive state fields masked. */
export interface MaskedStateCapture {
  readonly beforeState: State;
  readonly afterState: State | null;
  readonly diff: Diff | null;
  /** `before_state.x`, `after_state.x`, `diff.x` for each value replaced by {@link MASKED_VALUE}. */
  readonly maskedPaths: readonly string[];
}

/** Names of the action's state fields marked `sensitive: true`. */
export function sensitiveStateFields(definition: ActionDefinition | undefined): readonly string[] {
  if (definition === undefined || !Array.isArray(definition.stateFields)) return [];
  return definition.stateFields.filter((field) => field.sensitive === true).map((field) => field.name);
}

function maskObject(state: State, names: readonly string[], root: string, maskedPaths: string[]): State {
  let copy: Record<string, unknown> | undefined;
  for (const name of names) {
    if (!Object.hasOwn(state, name) || state[name] === undefined) continue;
    copy ??= { ...state };
    copy[name] = MASKED_VALUE;
    maskedPaths.push(`${root}.${name}`);
  }
  return copy ?? state;
}

/**
 * The before/after state and diff of a run as the audit log holds them: each state field the action
 * marks `sensitive` has its value replaced by {@link MASKED_VALUE} (in the diff, on whichever side had a
 * value, so the log still shows that the field changed, not to what). The runner and the SDK's
 * `recordState` write captures through this, so both mask the same way. Returns the given objects
 * themselves when nothing is sensitive. The diff must be computed from the real values before masking.
 */
export function maskCapturedState(
  definition: ActionDefinition | undefined,
  beforeState: State,
  afterState: State | null,
  diff: Diff | null,
): MaskedStateCapture {
  const names = sensitiveStateFields(definition);
  if (names.length === 0) return { beforeState, afterState, diff, maskedPaths: [] };
  const maskedPaths: string[] = [];
  const before = maskObject(beforeState, names, 'before_state', maskedPaths);
  const after = afterState === null ? null : maskObject(afterState, names, 'after_state', maskedPaths);
  let maskedDiff = diff;
  if (diff !== null) {
    let copy: Record<string, { before: unknown; after: unknown }> | undefined;
    for (const name of names) {
      if (!Object.hasOwn(diff, name)) continue;
      const entry = diff[name]!;
      copy ??= { ...diff };
      copy[name] = {
        before: entry.before === undefined ? undefined : MASKED_VALUE,
        after: entry.after === undefined ? undefined : MASKED_VALUE,
      };
      maskedPaths.push(`diff.${name}`);
    }
    maskedDiff = copy ?? diff;
  }
  return { beforeState: before, afterState: after, diff: maskedDiff, maskedPaths };
}
