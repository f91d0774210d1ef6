import { threadId } from 'node:worker_threads';
import { planBatches } from '../src/chunking/batches.util';
import { splitTurns } from '../src/chunking/turns.util';
import { splitAndCountTurns } from '../src/chunking/virtual-turns.util';
import { resultCacheKey } from '../src/pipeline/result-cache-key.util';
import { TurnSplitter } from '../src/pipeline/turn-splitter.client';
import { TokenizersService } from '../src/tokenizers/tokenizers.service';
import { startTestGateway, waitFor } from './support/gateway';
import { LlmSimulator } from './support/llm-simulator';
import {
  expectedTurnLines,
  followJob,
  installTestServices,
  predictedSummary,
  readTranscript,
  SMALL_FLAVOR,
  startWorkerGateway,
  submit,
} from './support/pipeline-fixtures';

// The split threads load dist/pipeline/turn-split.worker.js: `npm test` builds it first.
const tokenizer = new TokenizersService().family('cl100k_base');

/** `text` as UTF-8 bytes in shared memory, as the worker reads a job's text. */
function sharedBytes(text: string): Uint8Array {
  const bytes = Buffer.from(text, 'utf8');
  const shared = new Uint8Array(new SharedArrayBuffer(bytes.byteLength));
  shared.set(bytes);
  return shared;
}

/** Turns of the event loop taken while `work` runs: none when it holds the loop throughout. */
async function loopTurnsDuring<T>(work: () => Promise<T>): Promise<{ result: T; loopTurns: number }> {
  let loopTurns = 0;
  let isDone = false;
  const spin = async () => {
    while (!isDone) {
      await new Promise((resolve) => setImmediate(resolve));
      loopTurns += 1;
    }
  };
  const spinning = spin();
  const result = await work();
  const turnsWhileWorking = loopTurns;
  isDone = true;
  await spinning;
  return { result, loopTurns: turnsWhileWorking };
}

describe('splitting a large text in a thread', () => {
  // ~3 MB: the three transcripts again and again.
  const fixtures = ['Bmr006.txt', 'ES2004a.txt', 'education_4.txt'].map(readTranscript).join('\n');
  const largeText = Array.from({ length: Math.ceil(3e6 / fixtures.length) }, () => fixtures).join('\n');
  const largeBytes = sharedBytes(largeText);

  it('runs in another thread, leaves the event loop free, and gives what the inline split gives', async () => {
    const splitter = new TurnSplitter({ splitThreads: 1 });
    try {
      expect(splitter.isThreaded(largeBytes, tokenizer)).toBe(true);
      const threaded = await loopTurnsDuring(() => splitter.split(largeBytes, 120, tokenizer));
      expect(splitter.threadSplits).toHaveLength(1);
      expect(splitter.threadSplits[0]?.threadId).not.toBe(threadId);
      // The event loop kept turning while the thread worked (inline, it could not turn once).
      expect(threaded.loopTurns).toBeGreaterThan(10);
      const inline = splitAndCountTurns(splitTurns(largeText), 120, tokenizer);
      expect(threaded.result.turns.length).toBe(inline.turns.length);
      expect(threaded.result).toEqual(inline);
      // The bytes were shared with the thread, not moved: the job still has its text.
      expect(Buffer.from(largeBytes).toString('utf8')).toBe(largeText);
    } finally {
      await splitter.onModuleDestroy();
    }
  });

  it('with batch limits: the turns come as a list read by range, their batches planned in the thread', async () => {
    const limits = { budgetTokens: 3_000, maxTurns: 9, joinerTokens: 1 };
    const splitter = new TurnSplitter({ splitThreads: 1 });
    try {
      const threaded = await loopTurnsDuring(() => splitter.split(largeBytes, 120, tokenizer, limits));
      expect(threaded.loopTurns).toBeGreaterThan(10);
      const { turns, counts, batches } = threaded.result;
      expect(Array.isArray(turns)).toBe(false); // never every turn as an object at once
      const inline = splitAndCountTurns(splitTurns(largeText), 120, tokenizer);
      expect(counts).toEqual(inline.counts);
      expect([...turns]).toEqual(inline.turns);
      expect(turns.slice(1_000, 1_009)).toEqual(inline.turns.slice(1_000, 1_009));
      expect(batches).toEqual(planBatches(inline.counts, 3_000, 9, 1));
      // A budget some turn does not fit: no plan from the thread (the caller's plan throws).
      const tooSmall = await splitter.split(largeBytes, 120, tokenizer, { ...limits, budgetTokens: 10 });
      expect(tooSmall.batches).toBeUndefined();
      expect(tooSmall.counts).toEqual(inline.counts);
    } finally {
      await splitter.onModuleDestroy();
    }
  });

  it('hashes a large text for the result cache in a thread, to the key resultCacheKey gives', async () => {
    const input = {
      service: { route: 'test/map', promptName: 'map', fields: 1 as const },
      flavor: {
        ...SMALL_FLAVOR,
        reduceSummary: false,
        consolidateSummary: false,
        type: 'abstractive' as const,
        reduce_prompt: null,
      },
      template: 'Turns:\n{}',
      reduceTemplate: 'Turns:\n{}',
    };
    // Beyond ASCII too: the key covers the text's UTF-16 length and its UTF-8 bytes.
    const text = `${largeText}\nZoë : 你好 😀 e\u0301`;
    const splitter = new TurnSplitter({ splitThreads: 1 });
    try {
      const threaded = await loopTurnsDuring(() => splitter.resultCacheKey(input, sharedBytes(text)));
      expect(threaded.loopTurns).toBeGreaterThan(0);
      expect(threaded.result).toBe(resultCacheKey({ ...input, text }));
      const inline = new TurnSplitter({ splitThreads: 0 });
      expect(await inline.resultCacheKey(input, sharedBytes(text))).toBe(threaded.result);
      await inline.onModuleDestroy();
    } finally {
      await splitter.onModuleDestroy();
    }
  });

  it('splits inline a text its vocabulary splits in less than a hop to a thread costs, else in a thread', async () => {
    const text = readTranscript('ES2004a.txt'); // 18.7 KB
    const bytes = sharedBytes(text);
    const splitter = new TurnSplitter({ splitThreads: 1 });
    try {
      // A few milliseconds with a BPE vocabulary: the thread hop would cost as much.
      expect(splitter.isQuick(bytes, tokenizer)).toBe(true);
      expect(splitter.isThreaded(bytes, tokenizer)).toBe(false);
      const inline = await loopTurnsDuring(() => splitter.split(bytes, 120, tokenizer));
      expect(splitter.threadSplits).toHaveLength(0);
      expect(inline.loopTurns).toBe(0);
      expect(inline.result).toEqual(splitAndCountTurns(splitTurns(text), 120, tokenizer));
      // ~40 ms with a SentencePiece one: in the thread.
      const mistral = new TokenizersService().family('mistral');
      expect(splitter.isQuick(bytes, mistral)).toBe(false);
      expect(splitter.isThreaded(bytes, mistral)).toBe(true);
      const threaded = await splitter.split(bytes, 120, mistral);
      expect(splitter.threadSplits).toHaveLength(1);
      expect(threaded).toEqual(splitAndCountTurns(splitTurns(text), 120, mistral));
    } finally {
      await splitter.onModuleDestroy();
    }
  });

  it('SPLIT_THREADS=0 splits inline, holding the event loop', async () => {
    const splitter = new TurnSplitter({ splitThreads: 0 });
    const text = largeText.slice(0, 200_000);
    const inline = await loopTurnsDuring(() => splitter.split(sharedBytes(text), 120, tokenizer));
    expect(splitter.isThreaded(sharedBytes(text), tokenizer)).toBe(false);
    expect(splitter.isQuick(sharedBytes(text), tokenizer)).toBe(false); // inline, but long
    expect(splitter.threadSplits).toHaveLength(0);
    expect(inline.loopTurns).toBe(0);
    expect(inline.result).toEqual(splitAndCountTurns(splitTurns(text), 120, tokenizer));
    await splitter.onModuleDestroy();
  });
});

describe('the worker splits large texts in its threads and loads vocabularies before any job', () => {
  let simulator: LlmSimulator;

  beforeAll(async () => {
    simulator = await new LlmSimulator().start();
  });
  afterAll(async () => {
    await simulator.stop();
  });

  it('ROLE=all: the vocabulary is loaded when the manifest arrives, and a job of Bmr006 is split in a thread', async () => {
    const gateway = await startWorkerGateway(simulator);
    try {
      // Loaded once, with its duration, before any job: installTestServices only wrote a manifest.
      await waitFor(
        async () => gateway.logger.matching(/^Vocabulary cl100k_base loaded in \d+ ms$/).length > 0,
        10_000,
        'the vocabulary to load',
      );
      await waitFor(
        async () => gateway.logger.matching(/^Split thread \d+ loaded cl100k_base$/).length > 0,
        10_000,
        'the split thread to load the vocabulary',
      );
      expect(gateway.get(TokenizersService).loadedFamilies()).toEqual(['cl100k_base']);
      const text = readTranscript('Bmr006.txt');
      const splitter = gateway.get(TurnSplitter);
      expect(splitter.isThreaded(Buffer.from(text), tokenizer)).toBe(true);
      const final = (await followJob(gateway, await submit(gateway, 'test/map', text))).at(-1);
      expect(final?.status).toBe('complete');
      expect(final?.summarization).toBe(predictedSummary(expectedTurnLines(text)));
      expect(splitter.threadSplits).toHaveLength(1);
      expect(splitter.threadSplits[0]?.threadId).not.toBe(threadId);
    } finally {
      await gateway.close();
    }
  });

  it('ROLE=worker: the vocabularies of the published services are loaded at start-up', async () => {
    const api = await startTestGateway({ seedSamples: false, env: { ROLE: 'api' } });
    try {
      await installTestServices(api);
      const worker = await startTestGateway({
        seedSamples: false,
        redisUrl: api.redisUrl,
        env: { ROLE: 'worker', OPENAI_API_BASE: simulator.baseUrl },
      });
      try {
        await waitFor(
          async () => worker.logger.matching(/^Vocabulary cl100k_base loaded in \d+ ms$/).length > 0,
          10_000,
          'the worker to load the vocabulary',
        );
        expect(worker.get(TokenizersService).loadedFamilies()).toEqual(['cl100k_base']);
      } finally {
        await worker.close();
      }
    } finally {
      await api.close();
    }
  });
});
