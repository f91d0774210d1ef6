// Runs in the split threads of TurnSplitter (piscina): splitting and counting a large text here
// keeps the worker's event loop free to serve requests and renew job locks. Loaded as compiled
// JavaScript (dist/pipeline/turn-split.worker.js); the vocabularies are pure JS packages.
import { threadId } from 'node:worker_threads';
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { type BatchLimits, batchEnds, planBatches } from '../chunking/batches.util';
import { packTurns, packedTurnsTransferList, type PackedTurns } from '../chunking/packed-turns.util';
import { splitTurns } from '../chunking/turns.util';
import { splitAndCountTurns } from '../chunking/virtual-turns.util';
import type { Tokenizer } from '../tokenizers/tokenizer';
import { TOKENIZER_LOADERS } from '../tokenizers/tokenizer-loaders';
import type { TokenizerFamily } from '../tokenizers/tokenizer-resolution.util';
import { type ResultCacheInput, resultCacheKey } from './result-cache-key.util';
import { decodeUtf8 } from './text-bytes.util';

/**
 * A text travels as UTF-8 bytes (in shared memory when it is large): it is decoded here. With
 * `batchLimits`, the map batches are planned here too (`planBatches` of the counts).
 */
export type SplitTask =
  | {
      kind: 'split';
      text: Uint8Array;
      maxTokensPerTurn: number;
      family: TokenizerFamily;
      batchLimits?: BatchLimits;
    }
  | { kind: 'cacheKey'; input: Omit<ResultCacheInput, 'text'>; text: Uint8Array }
  | { kind: 'preload'; families: TokenizerFamily[] };

export type SplitTaskResult =
  | {
      kind: 'split';
      packed: PackedTurns;
      /** The planned batches' ends (`batchEnds`), when asked for and every turn fits the budget. */
      batchEnds: Uint32Array | undefined;
      threadId: number;
    }
  | { kind: 'cacheKey'; key: string; threadId: number }
  | { kind: 'preload'; loaded: TokenizerFamily[]; threadId: number };

/** This thread's vocabularies, each loaded once. */
const tokenizers = new Map<TokenizerFamily, Tokenizer>();

function tokenizerOf(family: TokenizerFamily): Tokenizer {
  let tokenizer = tokenizers.get(family);
  if (!tokenizer) {
    tokenizer = TOKENIZER_LOADERS[family]();
    tokenizers.set(family, tokenizer);
  }
  return tokenizer;
}

export default function runSplitTask(task: SplitTask): SplitTaskResult | ReturnType<typeof move> {
  switch (task.kind) {
    case 'split': {
      const tokenizer = tokenizerOf(task.family);
      const counted = splitAndCountTurns(splitTurns(decodeUtf8(task.text)), task.maxTokensPerTurn, tokenizer);
      const packed = packTurns(counted);
      const ends = task.batchLimits ? plannedBatchEnds(counted.counts, task.batchLimits) : undefined;
      // Transferred, not copied: the main thread receives the buffers without a pass over them.
      return move({
        [transferableSymbol]: [...packedTurnsTransferList(packed), ...(ends ? [ends.buffer] : [])],
        [valueSymbol]: { kind: 'split', packed, batchEnds: ends, threadId } satisfies SplitTaskResult,
      });
    }
    case 'cacheKey':
      // The same function on the same decoded text as inline: the same key.
      return {
        kind: 'cacheKey',
        key: resultCacheKey({ ...task.input, text: decodeUtf8(task.text) }),
        threadId,
      };
    case 'preload': {
      const loaded = task.families.filter((family) => !tokenizers.has(family));
      loaded.forEach(tokenizerOf);
      return { kind: 'preload', loaded, threadId };
    }
    default: {
      const unknownTask: never = task;
      throw new Error(`unknown split task ${JSON.stringify(unknownTask)}`);
    }
  }
}

/**
 * `planBatches` of `counts`, as ends; undefined when a turn does not fit the budget: the main
 * thread plans again and throws planBatches' own error there.
 */
function plannedBatchEnds(counts: readonly number[], limits: BatchLimits): Uint32Array | undefined {
  try {
    return batchEnds(planBatches(counts, limits.budgetTokens, limits.maxTurns, limits.joinerTokens));
  } catch (error) {
    if (error instanceof RangeError) return undefined;
    throw error;
  }
}
