/** docs/api.md section 5 bounds on what a client of `WS /ws/results` may send in one frame. */
export const MAX_FRAME_BYTES = 64 * 1024;
export const MAX_IDS_PER_FRAME = 1_000;
/** Job ids are UUIDs (36 characters); anything much longer is not an id. */
export const MAX_ID_LENGTH = 256;

export type SubscriptionFrame = { kind: 'ids'; jobIds: string[] } | { kind: 'invalid'; reason: string };

/**
 * Reads one frame of `WS /ws/results`: a JSON array of job ids (docs/api.md section 5). Returns the
 * ids without duplicates, in order, or the reason the frame is refused (too large, not JSON,
 * not an array of non-empty strings, too many ids). Never throws. Pure.
 */
export function parseSubscriptionFrame(frame: Buffer | string): SubscriptionFrame {
  const size = typeof frame === 'string' ? Buffer.byteLength(frame) : frame.length;
  if (size > MAX_FRAME_BYTES) {
    return invalid(`Frame of ${size} bytes is over the ${MAX_FRAME_BYTES}-byte limit`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof frame === 'string' ? frame : frame.toString('utf8'));
  } catch {
    return invalid('Frame is not JSON: send a JSON array of job ids, e.g. ["<jobId>"]');
  }
  if (!Array.isArray(parsed)) return invalid('Frame is not a JSON array of job ids');
  if (parsed.length > MAX_IDS_PER_FRAME) {
    return invalid(`Frame holds ${parsed.length} job ids; at most ${MAX_IDS_PER_FRAME} per frame`);
  }
  const jobIds: string[] = [];
  for (const [index, id] of parsed.entries()) {
    if (typeof id !== 'string' || id === '' || id.length > MAX_ID_LENGTH) {
      return invalid(
        `Element ${index} is not a job id (a non-empty string of at most ${MAX_ID_LENGTH} characters)`,
      );
    }
    jobIds.push(id);
  }
  return { kind: 'ids', jobIds: [...new Set(jobIds)] };
}

function invalid(reason: string): SubscriptionFrame {
  return { kind: 'invalid', reason };
}
