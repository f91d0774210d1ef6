import { JOB_STATE_SCHEMAS } from '../jobs/job-state.dto';
import { type AsyncApiContext, asyncApiSchema, buildAsyncApiDocument } from './asyncapi-document.util';

const context: AsyncApiContext = {
  title: 'LLM Gateway',
  version: '1.2.3',
  host: 'gateway.example:8000',
  isSecure: false,
  isKeyRequired: false,
  heartbeatSeconds: 3,
  jobStateSchemas: JOB_STATE_SCHEMAS,
  limits: { idsPerFrame: 1000, jobsPerSocket: 10_000, frameBytes: 65_536, closeFrameBytes: 1_048_576 },
};

describe('asyncApiSchema', () => {
  it.each([
    [{ type: 'string', nullable: true }, { type: ['string', 'null'] }],
    [
      { type: 'string', example: '42' },
      { type: 'string', examples: ['42'] },
    ],
    [
      { oneOf: [{ $ref: '#/components/schemas/A' }], discriminator: { propertyName: 'status', mapping: {} } },
      { oneOf: [{ $ref: '#/components/schemas/A' }], discriminator: 'status' },
    ],
    [
      { type: 'object', properties: { example: { type: 'string', nullable: true } } },
      { type: 'object', properties: { example: { type: ['string', 'null'] } } },
    ],
  ])('%j → %j', (openApi, asyncApi) => {
    expect(asyncApiSchema(openApi)).toEqual(asyncApi);
  });
});

describe('buildAsyncApiDocument', () => {
  const document = buildAsyncApiDocument(context) as {
    asyncapi: string;
    servers: Record<string, { host: string; protocol: string; security?: unknown[] }>;
    channels: Record<string, { address: string; description: string }>;
    components: { schemas: Record<string, unknown> };
  };

  it('describes both endpoints on the host the client reached', () => {
    expect(document.asyncapi).toBe('3.0.0');
    expect(document.servers.gateway).toMatchObject({ host: 'gateway.example:8000', protocol: 'ws' });
    expect(Object.values(document.channels).map((channel) => channel.address)).toEqual([
      '/ws/results/{id}',
      '/ws/results',
    ]);
  });

  it('names the close codes of each socket', () => {
    expect(document.channels.jobResults?.description).toMatch(/1000[\s\S]*1001[\s\S]*1011[\s\S]*1013/);
    expect(document.channels.resultsFeed?.description).toMatch(/1009[\s\S]*1001/);
  });

  it('uses the job-state schemas of the OpenAPI document', () => {
    expect(document.components.schemas.ProcessingState).toEqual(
      asyncApiSchema(JOB_STATE_SCHEMAS.ProcessingState),
    );
    expect(document.components.schemas.JobState).toMatchObject({ discriminator: 'status' });
  });

  it.each([
    [false, false, 'ws', undefined],
    [true, true, 'wss', 3],
  ])(
    'secure %p, key required %p: protocol %s, %p security schemes',
    (isSecure, isKeyRequired, protocol, count) => {
      const built = buildAsyncApiDocument({ ...context, isSecure, isKeyRequired }) as typeof document;
      expect(built.servers.gateway?.protocol).toBe(protocol);
      expect(built.servers.gateway?.security?.length).toBe(count);
    },
  );
});
