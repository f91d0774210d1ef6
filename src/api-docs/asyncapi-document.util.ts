import type { SchemaObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';

/** What the AsyncAPI document says about the server that serves it. */
export interface AsyncApiContext {
  title: string;
  version: string;
  /** `host[:port]` the client reached, as its Host header says. */
  host: string;
  isSecure: boolean;
  isKeyRequired: boolean;
  heartbeatSeconds: number;
  /** The job-state schemas of the OpenAPI document (`JOB_STATE_SCHEMAS`), converted here. */
  jobStateSchemas: Record<string, SchemaObject>;
  limits: { idsPerFrame: number; jobsPerSocket: number; frameBytes: number; closeFrameBytes: number };
}

type Json = Record<string, unknown>;

const ref = (path: string): Json => ({ $ref: path });
const schema = (name: string): Json => ref(`#/components/schemas/${name}`);
const message = (name: string): Json => ref(`#/components/messages/${name}`);

/**
 * The AsyncAPI 3.0 document of the WebSocket API (docs/api.md section 5): both endpoints, every
 * message they carry (the job states of `GET /results/{id}`, with `task_id` on the feed, the
 * heartbeat, the subscription arrays and their answers), `?partial=true`, the API key and the
 * close codes. The state schemas are those of the OpenAPI document, so the two cannot drift.
 * Pure.
 */
export function buildAsyncApiDocument(context: AsyncApiContext): Json {
  const { limits } = context;
  const scheme = context.isSecure ? 'https' : 'http';
  const closeCodes = [
    '- `1001`: the API process is stopping. Reconnect (to any API process): the first message is the current state again.',
    '- `1011`: Redis is unavailable (or an internal error). Reconnect after a moment.',
    '- `1013`: the client let 8 MB of messages pile up unread.',
    `- no close frame: the server pings every ${context.heartbeatSeconds} s (WS_POLLING_INTERVAL) and drops a peer that missed two pings.`,
  ];
  const upgradeRules = [
    context.isKeyRequired
      ? 'This gateway has API_KEYS set: the upgrade request needs a key (`Authorization: Bearer`, `X-API-Key`, or `?api_key=` since browsers cannot set headers on a WebSocket), else it is refused with HTTP `401`.'
      : 'This gateway has no API_KEYS: no key is needed (when it has, the upgrade needs one as `Authorization: Bearer`, `X-API-Key` or `?api_key=`, else HTTP `401`).',
    'Any other path is refused with HTTP `404`.',
  ];
  const stateExample = { status: 'processing', message: 'Task is in progress', progress: '42' };
  return {
    asyncapi: '3.0.0',
    info: {
      title: `${context.title} WebSocket API`,
      version: context.version,
      description: [
        'Plain WebSocket (RFC 6455, not socket.io), JSON text frames, on the HTTP port. Job states are the',
        `bodies of \`GET /results/{id}\` in the OpenAPI document (${scheme}://${context.host}/openapi.json),`,
        'without the HTTP status. Every change is pushed as it happens; a client is never sent a state',
        'older than one it already has.',
        '',
        ...upgradeRules,
      ].join('\n'),
      externalDocs: {
        description: 'The HTTP API (OpenAPI)',
        url: `${scheme}://${context.host}/openapi.json`,
      },
    },
    defaultContentType: 'application/json',
    servers: {
      gateway: {
        host: context.host,
        protocol: context.isSecure ? 'wss' : 'ws',
        description: 'This gateway (the host this document was asked from).',
        ...(context.isKeyRequired
          ? {
              security: [
                ref('#/components/securitySchemes/apiKeyQuery'),
                ref('#/components/securitySchemes/apiKeyHeader'),
                ref('#/components/securitySchemes/bearerAuth'),
              ],
            }
          : {}),
      },
    },
    channels: {
      jobResults: {
        address: '/ws/results/{id}',
        title: 'One job',
        description: [
          "On connect, the job's current state; then one message per change of state or progress.",
          'After `complete` or `error` the server closes the socket with `1000`; an unknown id gets one',
          '`unknown` message, then the close. No heartbeat messages on this socket.',
          '',
          '`?partial=true` adds to each `processing` message the summary lines produced since the previous',
          'message (`partial`, each line ending with a newline). The first message of a connection holds',
          'every line produced so far, so a client that reconnects gets them again: keep the lines you have',
          'and skip that many. The `complete` message carries the final text (after reduce and',
          'consolidation when the service has them).',
          '',
          'Close codes:',
          '- `1000`: the job ended (`complete`, `error` or `unknown` was the last message).',
          ...closeCodes,
        ].join('\n'),
        parameters: { id: { description: 'The job id (`jobId` of the generate answer).' } },
        messages: { jobState: message('jobState') },
        bindings: {
          ws: {
            bindingVersion: '0.1.0',
            query: {
              type: 'object',
              properties: {
                partial: {
                  type: 'string',
                  enum: ['true'],
                  description: 'Add the new summary lines (`partial`) to each `processing` message.',
                },
                api_key: {
                  type: 'string',
                  description: 'One of the API_KEYS (browsers cannot set headers).',
                },
              },
            },
          },
        },
      },
      resultsFeed: {
        address: '/ws/results',
        title: 'Many jobs on one socket',
        description: [
          'The client may stay silent after connecting. Every JSON array of job ids it sends (up to',
          `${limits.idsPerFrame.toLocaleString('en')} per frame, ${limits.jobsPerSocket.toLocaleString('en')} per socket) adds them to its subscription and is`,
          'answered by one array of their current states, each with `task_id` (`complete` entries also',
          'carry `"progress":"100"`, unknown ids get `status: unknown`); then each change of a subscribed',
          'job comes as one object with `task_id`, until that job ends. The socket only hears of the jobs',
          `it named. Once the first array is answered, \`{"status":"alive"}\` comes every ${context.heartbeatSeconds} s`,
          '(WS_POLLING_INTERVAL); nothing is sent before that answer.',
          '',
          `A frame that is not a JSON array of non-empty strings, holds more than ${limits.idsPerFrame} ids or is over`,
          `${limits.frameBytes / 1024} KB gets one \`invalid\` message and the socket stays open. While Redis is`,
          'unreachable, an array is answered by one `unavailable` message: send the ids again later.',
          '',
          'Close codes:',
          `- \`1009\`: a frame over ${limits.closeFrameBytes / 1024 / 1024} MB.`,
          ...closeCodes,
        ].join('\n'),
        messages: {
          subscription: message('subscription'),
          subscriptionStates: message('subscriptionStates'),
          taskState: message('taskState'),
          heartbeat: message('heartbeat'),
          invalidFrame: message('invalidFrame'),
          unavailable: message('unavailable'),
        },
        bindings: {
          ws: {
            bindingVersion: '0.1.0',
            query: {
              type: 'object',
              properties: {
                api_key: {
                  type: 'string',
                  description: 'One of the API_KEYS (browsers cannot set headers).',
                },
              },
            },
          },
        },
      },
    },
    operations: {
      sendJobState: {
        action: 'send',
        title: "A job's states",
        summary: 'The current state on connect, then each change, until the job ends.',
        channel: ref('#/channels/jobResults'),
        messages: [ref('#/channels/jobResults/messages/jobState')],
      },
      receiveSubscription: {
        action: 'receive',
        title: 'Follow jobs',
        summary: 'A JSON array of job ids adds them to the subscription; it is answered at once.',
        channel: ref('#/channels/resultsFeed'),
        messages: [ref('#/channels/resultsFeed/messages/subscription')],
        reply: {
          channel: ref('#/channels/resultsFeed'),
          messages: [
            ref('#/channels/resultsFeed/messages/subscriptionStates'),
            ref('#/channels/resultsFeed/messages/invalidFrame'),
            ref('#/channels/resultsFeed/messages/unavailable'),
          ],
        },
      },
      sendTaskState: {
        action: 'send',
        title: 'A change of a followed job',
        channel: ref('#/channels/resultsFeed'),
        messages: [ref('#/channels/resultsFeed/messages/taskState')],
      },
      sendHeartbeat: {
        action: 'send',
        title: 'Heartbeat',
        summary: `Every ${context.heartbeatSeconds} s once the first array is answered.`,
        channel: ref('#/channels/resultsFeed'),
        messages: [ref('#/channels/resultsFeed/messages/heartbeat')],
      },
    },
    components: {
      schemas: {
        ...Object.fromEntries(
          Object.entries(context.jobStateSchemas).map(([name, openApiSchema]) => [
            name,
            asyncApiSchema(openApiSchema),
          ]),
        ),
        JobMessage: {
          description:
            'A state on `/ws/results/{id}`: a `GET /results/{id}` body, `partial` added on request.',
          oneOf: [
            schema('QueuedState'),
            schema('StartedState'),
            schema('ProcessingMessage'),
            schema('CompleteState'),
            schema('ErrorState'),
            schema('UnknownState'),
          ],
          discriminator: 'status',
        },
        ProcessingMessage: {
          allOf: [
            schema('ProcessingState'),
            {
              type: 'object',
              properties: {
                partial: {
                  type: 'string',
                  description:
                    'With `?partial=true` only: the summary lines produced since the previous message, each ending with a newline (all lines so far in the first message of a connection); may be empty.',
                  examples: ['Alice : proposes a budget\nBob : agrees\n'],
                },
              },
            },
          ],
        },
        TaskState: {
          description: 'A state on `/ws/results`, naming its job.',
          allOf: [
            schema('JobState'),
            {
              type: 'object',
              required: ['task_id'],
              properties: {
                task_id: { type: 'string', description: 'The job id.' },
                progress: {
                  type: 'string',
                  description: 'Also on `complete` entries, always `"100"` there.',
                  examples: ['100'],
                },
              },
            },
          ],
        },
        SubscriptionRequest: {
          type: 'array',
          minItems: 1,
          maxItems: limits.idsPerFrame,
          items: { type: 'string', minLength: 1 },
          description: 'Job ids to follow, added to those already followed.',
        },
        SubscriptionStates: {
          type: 'array',
          items: schema('TaskState'),
          description: 'The current state of each id of the array, in its order.',
        },
        Heartbeat: {
          type: 'object',
          required: ['status'],
          properties: { status: { type: 'string', enum: ['alive'] } },
        },
        InvalidFrame: {
          type: 'object',
          required: ['status', 'detail'],
          properties: {
            status: { type: 'string', enum: ['invalid'] },
            detail: { type: 'string', examples: ['Frame is not a JSON array of job ids'] },
          },
        },
        Unavailable: {
          type: 'object',
          required: ['status', 'detail'],
          properties: {
            status: { type: 'string', enum: ['unavailable'] },
            detail: { type: 'string', examples: ['Redis is unavailable: send the job ids again'] },
          },
        },
      },
      messages: {
        jobState: {
          name: 'jobState',
          title: 'Job state',
          payload: schema('JobMessage'),
          examples: [
            { name: 'processing', payload: { ...stateExample, partial: 'Alice : proposes a budget\n' } },
            { name: 'complete', payload: { status: 'complete', message: 'success', summarization: '...' } },
          ],
        },
        taskState: {
          name: 'taskState',
          title: 'State of a followed job',
          payload: schema('TaskState'),
          examples: [{ name: 'processing', payload: { task_id: '6f1c…', ...stateExample } }],
        },
        subscription: {
          name: 'subscription',
          title: 'Job ids to follow',
          payload: schema('SubscriptionRequest'),
          examples: [{ name: 'two ids', payload: ['6f1c…', 'no-such-id'] }],
        },
        subscriptionStates: {
          name: 'subscriptionStates',
          title: 'The states of the ids just sent',
          payload: schema('SubscriptionStates'),
          examples: [
            {
              name: 'one running, one unknown',
              payload: [
                { task_id: '6f1c…', ...stateExample },
                { task_id: 'no-such-id', status: 'unknown', message: 'Task does not exist' },
              ],
            },
          ],
        },
        heartbeat: {
          name: 'heartbeat',
          title: 'Heartbeat',
          payload: schema('Heartbeat'),
          examples: [{ payload: { status: 'alive' } }],
        },
        invalidFrame: { name: 'invalidFrame', title: 'A frame refused', payload: schema('InvalidFrame') },
        unavailable: { name: 'unavailable', title: 'Redis is unavailable', payload: schema('Unavailable') },
      },
      securitySchemes: {
        apiKeyQuery: {
          type: 'httpApiKey',
          in: 'query',
          name: 'api_key',
          description: 'One of the API_KEYS.',
        },
        apiKeyHeader: {
          type: 'httpApiKey',
          in: 'header',
          name: 'X-API-Key',
          description: 'One of the API_KEYS.',
        },
        bearerAuth: { type: 'http', scheme: 'bearer', description: 'One of the API_KEYS.' },
      },
    },
  };
}

/**
 * An OpenAPI 3.0 schema as an AsyncAPI schema (JSON Schema draft 7): `nullable` becomes a `null`
 * type, `example` becomes `examples`, a discriminator is just its property name, and references
 * keep their `#/components/schemas/` path (the same in both documents). Pure.
 */
export function asyncApiSchema(openApi: unknown): unknown {
  if (Array.isArray(openApi)) return openApi.map(asyncApiSchema);
  if (typeof openApi !== 'object' || openApi === null) return openApi;
  const converted: Json = {};
  const source = openApi as Json;
  for (const [key, value] of Object.entries(source)) {
    if (key === 'nullable' || key === 'example') continue;
    if (key === 'discriminator') {
      converted.discriminator = (value as { propertyName: string }).propertyName;
    } else if (key === 'properties') {
      converted[key] = Object.fromEntries(
        Object.entries(value as Json).map(([name, property]) => [name, asyncApiSchema(property)]),
      );
    } else {
      converted[key] = asyncApiSchema(value);
    }
  }
  if ('example' in source) converted.examples = [source.example];
  if (source.nullable === true && typeof source.type === 'string') converted.type = [source.type, 'null'];
  return converted;
}
