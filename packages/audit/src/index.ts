export { AuditLog } from './audit-log.js';
export type { AuditLogBacklog, AuditLogOptions, AuditLogStatistics } from './audit-log.js';
export { hashAuditEvent } from './hash-audit-event.js';
export { readAuditLog } from './read-audit-log.js';
export type { ReadAuditLogOptions } from './read-audit-log.js';
export { MAX_REPORTED, verifyAuditLog } from './verify-audit-log.js';
export type { Problem, ProblemKind, VerifyOptions, VerifyReport } from './verify-audit-log.js';
export type { TornLine } from './tail.js';
export type { CheckpointOptions, RotateOptions } from './audit-log.js';
export { checkpointKeyFrom, loadCheckpointKey } from './checkpoint-key.js';
export type { CheckpointAlgorithm, CheckpointKey, LoadCheckpointKeyOptions } from './checkpoint-key.js';
export {
  CHECKPOINT_EVENT_TYPE,
  checkpointSignatureProblem,
  checkpointSigningInput,
  readCheckpointFile,
  signCheckpoint,
} from './checkpoint.js';
export type { CheckpointLine, CheckpointStatement, SignedCheckpoint } from './checkpoint.js';
export { readAuditHead } from './audit-head.js';
export type { AuditHead } from './audit-head.js';
export { listLogFiles } from './log-files.js';
export type { LogFile } from './log-files.js';
export type { CheckpointSummary } from './verify-audit-log.js';
export {
  AuditShipping,
  backoffDelay,
  defaultLogId,
  shippingStatus,
} from './shippers/audit-shipping.js';
export type {
  ShipFailure,
  ShipProgress,
  ShipRunResult,
  ShipperStatus,
  ShippingOptions,
} from './shippers/audit-shipping.js';
export { BackgroundShipping } from './shippers/background-shipping.js';
export type { BackgroundShippingOptions } from './shippers/background-shipping.js';
export { shipperFromSpec } from './shippers/shipper-spec.js';
export type { ShipperSpec } from './shippers/shipper-spec.js';
export { FilesystemShipper } from './shippers/filesystem-shipper.js';
export type { FilesystemShipperOptions } from './shippers/filesystem-shipper.js';
export { S3Shipper, loadS3Module } from './shippers/s3-shipper.js';
export type { S3ShipperOptions } from './shippers/s3-shipper.js';
export { readSecretSource } from './shippers/secret-source.js';
export { batchFileName, batchHeader } from './shippers/ship-batch.js';
export type { ShipBatch } from './shippers/ship-batch.js';
export type { ShipState } from './shippers/ship-state.js';
export { ShipError } from './shippers/shipper.js';
export type { Shipper } from './shippers/shipper.js';
export {
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  WebhookShipper,
  signShipment,
  verifyShipment,
} from './shippers/webhook-shipper.js';
export type { WebhookShipperOptions } from './shippers/webhook-shipper.js';
