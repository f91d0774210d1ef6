export { createGatewayClient, isFinal } from './client';
export type { GatewayClient, GatewayClientOptions, SubmitRequest } from './client';
export { GatewayError, GatewayHttpError, GatewayUnreachableError } from './errors';
export type { FollowOptions, WebSocketClass } from './follow-job';
export type {
  CancelResult,
  CompleteState,
  ErrorState,
  FinalState,
  Flavor,
  JobMessage,
  JobState,
  ProcessingState,
  QueuedJob,
  QueuedState,
  Service,
  StartedState,
  UnknownState,
} from './types';
export type { components, paths } from './generated/openapi';
