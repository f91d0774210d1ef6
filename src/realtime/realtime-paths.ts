/** `WS /ws/results/<id>`: one job's state, then each change, closed once it ends. */
export const JOB_RESULTS_PATH = '/ws/results/:id';
/** `WS /ws/results`: the states of the jobs the client names, then each change, and heartbeats. */
export const RESULTS_FEED_PATH = '/ws/results';
/**
 * Frames over 64 KB get an error message (SPEC.md section 5); `ws` refuses frames over this
 * much outright (close 1009), so that no client can make the server buffer an unbounded frame.
 */
export const MAX_PAYLOAD_BYTES = 1024 * 1024;
/** Jobs one `WS /ws/results` socket may follow at once. */
export const MAX_JOBS_PER_SOCKET = 10_000;
