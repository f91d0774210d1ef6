import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import Piscina from 'piscina';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { type BatchLimits, type BatchRange, batchesFromEnds } from '../chunking/batches.util';
import {
  decodeTexts,
  packedTurnCount,
  packedTurnList,
  type SplitTurns,
  turnsHolding,
  unpackTurns,
} from '../chunking/packed-turns.util';
import { splitTurns } from '../chunking/turns.util';
import { type CountedTurns, splitAndCountTurns } from '../chunking/virtual-turns.util';
import type { Tokenizer } from '../tokenizers/tokenizer';
import { TOKENIZER_FAMILIES, type TokenizerFamily } from '../tokenizers/tokenizer-resolution.util';
import { type ResultCacheInput, resultCacheKey } from './result-cache-key.util';
import { inlineSplitMaxBytes } from './inline-split.util';
import { decodeUtf8 } from './text-bytes.util';
import type { SplitTask, SplitTaskResult } from './turn-split.worker';

/**
 * Texts from this size (UTF-8 bytes) are hashed for the result cache in a thread. Below it,
 * decoding and hashing take well under a millisecond. (Whether a text is split in a thread
 * depends on its vocabulary's speed: see inlineSplitMaxBytes.)
 */
export const THREAD_HASH_MIN_BYTES = 16 * 1024;
/** How many of the last threaded splits `threadSplits` remembers. */
const RECENT_SPLITS_KEPT = 100;
/**
 * Turns are rebuilt from a thread's answer for this long at most between two turns of the event
 * loop, checking the clock every TURNS_PER_CLOCK_CHECK turns: a fixed number of turns per slice
 * took 2 ms once optimized but 15-30 ms while the code was still cold.
 */
const SLICE_MS = 4;
const TURNS_PER_CLOCK_CHECK = 512;
/** Counts or batches copied between two clock checks (see inSlices). */
const ITEMS_PER_CLOCK_CHECK = 4096;
/**
 * Texts decoded this many code units at a time (256-512 KB, well under a millisecond): a string
 * that large goes straight to V8's large-object space; decoding per slice made thousands of
 * small strings that every scavenge copied (~80 ms of garbage collection for a 19 MB text).
 */
const DECODED_CODE_UNITS = 256 * 1024;

/**
 * Splits a job's text into counted virtual turns (`splitAndCountTurns(splitTurns(text))`), in a
 * pool of SPLIT_THREADS worker threads (piscina) for large texts: a 19 MB upload takes seconds
 * to split and count, during which a worker's event loop would renew no job lock and, in
 * ROLE=all, serve no request. A text comes as UTF-8 bytes and is decoded in the thread (~70 ms
 * for 19 MB), its result cache key hashed there too; the bytes, in shared memory, are not copied
 * to the thread, and the packed turns come back transferred. The pool belongs to the worker role
 * and closes with it.
 */
@Injectable()
export class TurnSplitter implements OnModuleDestroy {
  private readonly logger = new Logger(TurnSplitter.name);
  private readonly pool: Piscina<SplitTask, SplitTaskResult> | undefined;
  /** The last texts split in a thread, and the threads they ran in (tests read it); bounded. */
  readonly threadSplits: { threadId: number; turnCount: number }[] = [];

  constructor(@Inject(APP_CONFIG) config: Pick<AppConfig, 'splitThreads'>) {
    const filename = splitWorkerFile();
    if (config.splitThreads > 0 && !filename) {
      // Only when running from the TypeScript sources without a build (tests).
      this.logger.warn('No compiled split worker (run npm run build): large texts are split inline');
    }
    this.pool =
      config.splitThreads > 0 && filename
        ? new Piscina({
            filename,
            minThreads: config.splitThreads,
            maxThreads: config.splitThreads,
            idleTimeout: Number.POSITIVE_INFINITY,
          })
        : undefined;
  }

  /**
   * Whether this text goes to a thread: when splitting it would hold the event loop longer than
   * the hop to a thread costs (inlineSplitMaxBytes). ES2004a (18.7 KB) with a BPE vocabulary
   * stays inline (~3 ms, where the hop made its first LLM call wait ~5 ms).
   */
  isThreaded(text: Uint8Array, tokenizer: Tokenizer): boolean {
    return this.pool !== undefined && isKnownFamily(tokenizer.family) && !this.isQuick(text, tokenizer);
  }

  /**
   * Whether this text is split within a few milliseconds (INLINE_SPLIT_MAX_MS at its vocabulary's
   * speed), inline; false for a vocabulary of unknown speed.
   */
  isQuick(text: Uint8Array, tokenizer: Tokenizer): boolean {
    const family = tokenizer.family;
    return isKnownFamily(family) && text.byteLength <= inlineSplitMaxBytes(family);
  }

  /**
   * `text`: UTF-8 bytes, best in shared memory (else the thread gets a copy). With `batchLimits`
   * (map mode, whose turns are read a batch at a time), a text split in a thread comes back as a
   * `packedTurnList`, never as ~180,000 turn objects built at once, with its batches planned in
   * the thread (`planBatches(counts, ...batchLimits)`, 10-40 ms of work for a 19 MB text); without,
   * as arrays, rebuilt a slice at a time.
   */
  async split(
    text: Uint8Array,
    maxTokensPerTurn: number,
    tokenizer: Tokenizer,
    batchLimits?: BatchLimits,
  ): Promise<SplitTurns> {
    const family = tokenizer.family;
    if (!this.pool || !this.isThreaded(text, tokenizer) || !isKnownFamily(family)) {
      return splitAndCountTurns(splitTurns(decodeUtf8(text)), maxTokensPerTurn, tokenizer);
    }
    const result = await this.pool.run({
      kind: 'split',
      text,
      maxTokensPerTurn,
      family,
      ...(batchLimits ? { batchLimits } : {}),
    });
    if (result.kind !== 'split') throw new Error(`split thread answered a ${result.kind} task`);
    const { packed } = result;
    const turnCount = packedTurnCount(packed);
    this.threadSplits.push({ threadId: result.threadId, turnCount });
    if (this.threadSplits.length > RECENT_SPLITS_KEPT) this.threadSplits.shift(); // a long-lived worker keeps no history
    if (batchLimits) {
      // The counts as an array and the batches as ranges, built a slice at a time too
      // (Array.from of the counts alone: ~12 ms at once).
      const counts: number[] = [];
      await inSlices(turnCount, (start, end) => {
        for (let index = start; index < end; index += 1) counts.push(packed.counts[index] ?? 0);
      });
      const { batchEnds } = result;
      if (!batchEnds) return { turns: packedTurnList(packed), counts };
      const batches: BatchRange[] = [];
      await inSlices(batchEnds.length, (start, end) => {
        for (const batch of batchesFromEnds(batchEnds, start, end)) batches.push(batch);
      });
      return { turns: packedTurnList(packed), counts, batches };
    }
    const counted: CountedTurns = { turns: [], counts: [] };
    let sliceStartedAt = performance.now();
    for (let windowStart = 0; windowStart < turnCount;) {
      const windowEnd = turnsHolding(packed, windowStart, DECODED_CODE_UNITS);
      const decoded = decodeTexts(packed, windowStart, windowEnd);
      for (let start = windowStart; start < windowEnd; start += TURNS_PER_CLOCK_CHECK) {
        unpackTurns(packed, start, Math.min(start + TURNS_PER_CLOCK_CHECK, windowEnd), counted, decoded);
        if (performance.now() - sliceStartedAt >= SLICE_MS) {
          await new Promise((resolve) => setImmediate(resolve));
          sliceStartedAt = performance.now();
        }
      }
      windowStart = windowEnd;
    }
    return counted;
  }

  /**
   * `resultCacheKey` of `input` with `text` (UTF-8 bytes) decoded: in a thread for a large text
   * (decoding and hashing 19 MB hold an event loop ~100 ms), the same key either way.
   */
  async resultCacheKey(input: Omit<ResultCacheInput, 'text'>, text: Uint8Array): Promise<string> {
    if (!this.pool || text.byteLength < THREAD_HASH_MIN_BYTES) {
      return resultCacheKey({ ...input, text: decodeUtf8(text) });
    }
    const result = await this.pool.run({ kind: 'cacheKey', input, text });
    if (result.kind !== 'cacheKey') throw new Error(`split thread answered a ${result.kind} task`);
    return result.key;
  }

  /**
   * Loads `families` in the split threads too (one task per thread; piscina gives each to an idle
   * thread), so that no job waits for a thread to load a vocabulary.
   */
  async preload(families: readonly TokenizerFamily[]): Promise<void> {
    if (!this.pool || families.length === 0) return;
    const pool = this.pool;
    const results = await Promise.all(
      Array.from({ length: pool.maxThreads }, () => pool.run({ kind: 'preload', families: [...families] })),
    );
    for (const result of results) {
      if (result.kind === 'preload' && result.loaded.length > 0) {
        this.logger.log(`Split thread ${result.threadId} loaded ${result.loaded.join(', ')}`);
      }
    }
  }

  async onModuleDestroy(): Promise<void> {
    await this.pool?.destroy();
  }
}

/**
 * The compiled worker beside this file (dist/pipeline/), or, when this file runs from the
 * TypeScript sources (tests), the one `npm run build` wrote; undefined when there is none.
 */
function splitWorkerFile(): string | undefined {
  const besideThis = join(__dirname, 'turn-split.worker.js');
  if (existsSync(besideThis)) return besideThis;
  const built = join(__dirname, '..', '..', 'dist', 'pipeline', 'turn-split.worker.js');
  return existsSync(built) ? built : undefined;
}

function isKnownFamily(family: string): family is TokenizerFamily {
  return (TOKENIZER_FAMILIES as readonly string[]).includes(family);
}

/**
 * `step(start, end)` over `[0, total)`, ITEMS_PER_CLOCK_CHECK items at a time, letting the event
 * loop turn whenever SLICE_MS have passed.
 */
async function inSlices(total: number, step: (start: number, end: number) => void): Promise<void> {
  let sliceStartedAt = performance.now();
  for (let start = 0; start < total; start += ITEMS_PER_CLOCK_CHECK) {
    step(start, Math.min(start + ITEMS_PER_CLOCK_CHECK, total));
    if (performance.now() - sliceStartedAt >= SLICE_MS) {
      await new Promise((resolve) => setImmediate(resolve));
      sliceStartedAt = performance.now();
    }
  }
}
