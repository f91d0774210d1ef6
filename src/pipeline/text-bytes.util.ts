/**
 * `bytes` decoded as UTF-8, as ioredis decodes a reply (a malformed sequence becomes U+FFFD);
 * `bytes` may be a view of shared memory (which TextDecoder refuses). Pure.
 */
export function decodeUtf8(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}
