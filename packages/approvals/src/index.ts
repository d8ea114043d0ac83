export { approvalDedupeKey, isApprovalId, newApprovalId } from './approval-ids.js';
export { ApprovalService } from './approval-service.js';
export type { ApprovalServiceOptions, RequestIdentity, RequestOutcome } from './approval-service.js';
export { DEFAULT_APPROVAL_TTL_SECONDS, resolveApprovalSettings } from './approval-settings.js';
export type { ApprovalSettings, ApprovalSettingsInput } from './approval-settings.js';
export {
  MAX_COMMENT_LENGTH,
  attachTicket,
  castVote,
  expireIfDue,
  newApprovalRecord,
} from './approval-transitions.js';
export type {
  Approver,
  NewApprovalInput,
  VoteInput,
  VoteOutcome,
  VoteRefusalCode,
} from './approval-transitions.js';
export { MemoryApprovalStore } from './memory-approval-store.js';
export {
  CompositeNotifier,
  SLACK_APPROVE_ACTION,
  SLACK_DENY_ACTION,
  SlackNotifier,
  WebhookNotifier,
  approvalNotification,
  signWebhook,
} from './notifiers.js';
export type {
  ApprovalNotifier,
  HttpNotifierOptions,
  NotificationFailure,
  WebhookNotifierOptions,
} from './notifiers.js';
export { isOpen, listFilter, waitWithTimeout } from './store-helpers.js';
