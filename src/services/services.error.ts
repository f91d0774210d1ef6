export type ServicesErrorCode =
  | 'NO_SERVICES'
  | 'SERVICE_NOT_FOUND'
  | 'FLAVOR_NOT_FOUND'
  | 'MISSING_CONTENT'
  | 'MISSING_FLAVOR'
  | 'INVALID_PARAMETER'
  | 'INVALID_ENCODING';

/** A request the services capability refuses; mapped to HTTP by GatewayExceptionFilter. */
export class ServicesError extends Error {
  constructor(
    message: string,
    readonly code: ServicesErrorCode,
  ) {
    super(message);
    this.name = 'ServicesError';
  }
}
