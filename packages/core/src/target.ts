import type { Sensitivity } from './risk-class.js';

/** A managed piece of infrastructure from the inventory. */
export interface TargetDefinition {
  readonly id: string;
  readonly type: string;
  readonly environment: string;
  readonly sensitivity: Sensitivity;
  readonly owner: string;
  readonly labels: Readonly<Record<string, string>>;
  /**
   * What identifies the object itself (e.g. `cluster`, `namespace`, `name`; for AWS resources `account`,
   * `region`, `arn` and the resource's own id or name, such as `instance_id`).
   * An action's `targetBinding` names which params must equal which of these, so a request cannot be
   * decided on one target and act on another. Absent in inventories written before target binding.
   */
  readonly identifiers?: Readonly<Record<string, string>>;
}
