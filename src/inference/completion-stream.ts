import { createParser, type EventSourceParser } from 'eventsource-parser';

/** The parts of a streamed chunk we read; anything may be missing from a server's chunk. */
interface StreamChunk {
  choices?: { index?: number; delta?: { content?: string | null }; finish_reason?: string | null }[];
  usage?: { prompt_tokens?: number; completion_tokens?: number } | null;
}

/** A chunk that carries content and nothing else we read: no finish reason, no usage. */
interface ContentOnlyChunk {
  choices: [{ index: 0; delta: { content: string }; finish_reason?: null }];
  usage?: null;
}

/**
 * A content chunk's text around its content's JSON string, as a server sends every content chunk
 * of a stream (vLLM, OpenAI: same id, created and model in each), e.g.
 * `{"id":"chatcmpl-1",…,"choices":[{"index":0,"delta":{"content":` and
 * `},"logprobs":null,"finish_reason":null}]}`.
 */
interface ContentChunkShape {
  before: string;
  after: string;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
/**
 * Shapes learnt in a row with no chunk read through them, after which a stream is read by
 * JSON.parse alone: a server whose chunks differ otherwise too (an id per chunk, OpenAI's
 * `obfuscation` padding) would have each chunk parsed twice.
 */
const MAX_UNUSED_SHAPES = 3;

/**
 * A streamed completion's SSE events (split by eventsource-parser) read as they come: the content
 * of choice 0, its finish reason, the usage, `data: [DONE]`, and as `failure` an error event
 * (vLLM ends a stream that failed on the engine with `data: {"error": {...}}`) or a chunk that is
 * no JSON object. Nothing after [DONE] or a failure is read. `onChunk` is called once per chunk
 * (the idle timer's beat).
 *
 * A chunk that differs from the last content-only chunk parsed only by its content's JSON string
 * is read from that string alone: JSON.parse of every chunk (one per token) was most of the CPU
 * time of reading a stream, between one call's answer and the next call. The reading is the
 * same as a parse's: a JSON text in which one string token is replaced by another parses to the
 * same value but for that string; and a shape is only kept once a probe string put in its place
 * parsed as the content, with no finish reason and no usage.
 */
export class CompletionStreamReader {
  readonly contentParts: string[] = [];
  finishReason: string | null = null;
  promptTokens: number | undefined;
  completionTokens: number | undefined;
  /** `data: [DONE]` arrived: nothing after it is read. */
  isDone = false;
  /** An error event, or a chunk that is no JSON object: nothing after it is read. */
  failure: Error | undefined;
  private readonly parser: EventSourceParser;
  private shape: ContentChunkShape | undefined;
  private unusedShapeCount = 0;

  constructor(private readonly onChunk: () => void) {
    this.parser = createParser({ onEvent: (event) => this.readEvent(event.data) });
  }

  /** The next piece of the stream's text, cut anywhere. */
  feed(text: string): void {
    this.parser.feed(text);
  }

  private readEvent(data: string): void {
    if (this.isDone || this.failure) return;
    if (data.startsWith('[DONE]')) {
      this.isDone = true;
      return;
    }
    const shapedContent = this.shape && contentInShape(data, this.shape);
    if (shapedContent !== undefined) {
      this.unusedShapeCount = 0;
      this.onChunk();
      if (shapedContent) this.contentParts.push(shapedContent);
      return;
    }
    const chunk = parseStreamChunk(data);
    if (chunk instanceof Error) {
      this.failure = chunk;
      return;
    }
    this.onChunk();
    const choice = chunk.choices?.find((candidate) => candidate.index === 0);
    if (choice?.delta?.content) this.contentParts.push(choice.delta.content);
    this.finishReason = choice?.finish_reason ?? this.finishReason;
    this.promptTokens = chunk.usage?.prompt_tokens ?? this.promptTokens;
    this.completionTokens = chunk.usage?.completion_tokens ?? this.completionTokens;
    if (this.unusedShapeCount < MAX_UNUSED_SHAPES && isContentOnly(chunk)) {
      this.unusedShapeCount += 1;
      this.shape = contentChunkShape(data, chunk.choices[0].delta.content) ?? this.shape;
    }
  }
}

/**
 * One event's data as a chunk, or the failure it reports: vLLM ends a stream that failed on the
 * engine with `data: {"error": {...}}` (what the SDK's Stream throws as an APIError).
 */
function parseStreamChunk(data: string): StreamChunk | Error {
  let parsed: StreamChunk | null;
  try {
    parsed = JSON.parse(data) as StreamChunk | null;
  } catch {
    return new Error(`a chunk is not JSON: ${data.slice(0, 200)}`);
  }
  if (typeof parsed !== 'object' || parsed === null)
    return new Error(`a chunk is not an object: ${data.slice(0, 200)}`);
  const error = (parsed as { error?: unknown }).error;
  if (error) return new Error(messageOf(error) ?? JSON.stringify(error));
  return parsed;
}

function isContentOnly(chunk: StreamChunk): chunk is ContentOnlyChunk {
  const choices: unknown = chunk.choices;
  if (!Array.isArray(choices) || choices.length !== 1 || (chunk.usage ?? null) !== null) return false;
  const choice = choices[0] as NonNullable<StreamChunk['choices']>[number] | null;
  return (
    choice?.index === 0 &&
    (choice.finish_reason ?? null) === null &&
    typeof choice.delta?.content === 'string'
  );
}

/** The shape of `data`, a content-only chunk holding `content`; undefined when not found for sure. */
function contentChunkShape(data: string, content: string): ContentChunkShape | undefined {
  const token = JSON.stringify(content);
  const at = data.lastIndexOf(token);
  if (at === -1) return undefined; // escaped otherwise than JSON.stringify escapes it
  const shape = { before: data.slice(0, at), after: data.slice(at + token.length) };
  // The token found may be another string's text: the probe proves it is the content's.
  const probe = content === 'a' ? 'b' : 'a';
  const probed = parseStreamChunk(`${shape.before}"${probe}"${shape.after}`);
  return !(probed instanceof Error) && isContentOnly(probed) && probed.choices[0].delta.content === probe
    ? shape
    : undefined;
}

/** The content of `data` when it is `shape` around one JSON string; else undefined. */
function contentInShape(data: string, shape: ContentChunkShape): string | undefined {
  const { before, after } = shape;
  const tokenEnd = data.length - after.length;
  // Compared as slices: startsWith on the parser's sliced strings costs ~1 µs a chunk.
  if (
    tokenEnd - before.length < 2 ||
    data.slice(0, before.length) !== before ||
    data.slice(tokenEnd) !== after
  )
    return undefined;
  const token = data.slice(before.length, tokenEnd);
  if (token.charCodeAt(0) !== QUOTE || token.charCodeAt(token.length - 1) !== QUOTE) return undefined;
  const text = token.slice(1, -1);
  if (!needsJsonParse(text)) return text;
  try {
    const parsed: unknown = JSON.parse(token);
    return typeof parsed === 'string' ? parsed : undefined;
  } catch {
    return undefined; // not one string: the whole chunk is parsed
  }
}

/** Whether a JSON string's text holds what JSON escapes (`"`, `\\`) or refuses (a control character). */
function needsJsonParse(text: string): boolean {
  for (let index = 0; index < text.length; index += 1) {
    const code = text.charCodeAt(index);
    if (code < 0x20 || code === QUOTE || code === BACKSLASH) return true;
  }
  return false;
}

export function messageOf(value: unknown): string | undefined {
  const message: unknown = (value as { message?: unknown } | null | undefined)?.message;
  return typeof message === 'string' ? message : undefined;
}
