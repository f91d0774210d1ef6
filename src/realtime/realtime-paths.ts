/** `WS /ws/results/<id>`: one job's state, then each change, closed once it ends. */
export const JOB_RESULTS_PATH = '/ws/results/:id';
/** `WS /ws/results`: the states of the jobs the client names, then each change, and heartbeats. */
export const RESULTS_FEED_PATH = '/ws/results';
/**
 * Frames over 64 KB get an error message (docs/api.md section 5); `ws` refuses frames over this
 * much outright (close 1009), so that no client can make the server buffer an unbounded frame.
 */
export const MAX_PAYLOAD_BYTES = 1024 * 1024;
/** Jobs one `WS /ws/results` socket may follow at once. */
export const MAX_JOBS_PER_SOCKET = 10_000;

/**
 * The WebSocket endpoints in the OpenAPI description (OpenAPI cannot describe them as paths); the
 * AsyncAPI document at `/asyncapi.json` describes them machine-readably.
 */
export const WEBSOCKET_API_DESCRIPTION = `

### WebSocket API (plain WebSocket, JSON text frames, on this port)

Machine-readable: the AsyncAPI 3 document at [/asyncapi.json](/asyncapi.json).

- \`WS /ws/results/{id}\`: the job's state on connect (the bodies of \`GET /results/{id}\`), then one
  message per change of state or progress; closed with 1000 after \`complete\` or \`error\`. An
  unknown id gets \`{"status":"unknown","message":"Task does not exist"}\`, then the close.
  \`?partial=true\` adds to each \`processing\` message the summary lines produced since the
  previous one (\`"partial"\`, each line ending with a newline; the first message of a connection
  holds every line so far).
- \`WS /ws/results\`: send JSON arrays of job ids (at most 1,000 per frame, 64 KB) at any time; each
  is answered by an array of their states with \`task_id\`, then each change of those jobs comes as
  one object with \`task_id\`, and \`{"status":"alive"}\` every WS_POLLING_INTERVAL seconds. A bad
  frame gets \`{"status":"invalid","detail":"..."}\`; the socket stays open (a frame over 1 MB closes
  it with 1009).

Close codes: 1000 the job ended; 1001 the API process is stopping (reconnect: the first message
is the current state again); 1011 Redis is unavailable; 1013 the client left 8 MB unread.
When API keys are configured, the upgrade request needs one (header, or \`?api_key=\`), else 401.`;
