import type { Sensitivity } from './risk-class.js';

/** A managed piece of infrastructure from the inventory. */
export interface TargetDefinition {
  readonly id: string;
  readonly type: string;
  readonly environment: string;
  readonly sensitivity: Sensitivity;
  readonly owner: string;
  readonly labels: Readonly<Record<string, string>>;
}
