// Runs in the split threads of TurnSplitter (piscina): splitting and counting a large text here
// keeps the worker's event loop free to serve requests and renew job locks. Loaded as compiled
// JavaScript (dist/pipeline/turn-split.worker.js); the vocabularies are pure JS packages.
import { threadId } from 'node:worker_threads';
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { packTurns, packedTurnsTransferList, type PackedTurns } from '../chunking/packed-turns.util';
import { splitTurns } from '../chunking/turns.util';
import { splitAndCountTurns } from '../chunking/virtual-turns.util';
import type { Tokenizer } from '../tokenizers/tokenizer';
import { TOKENIZER_LOADERS } from '../tokenizers/tokenizer-loaders';
import type { TokenizerFamily } from '../tokenizers/tokenizer-resolution.util';
import { type ResultCacheInput, resultCacheKey } from './result-cache-key.util';
import { decodeUtf8 } from './text-bytes.util';

/** A text travels as UTF-8 bytes (in shared memory when it is large): it is decoded here. */
export type SplitTask =
  | { kind: 'split'; text: Uint8Array; maxTokensPerTurn: number; family: TokenizerFamily }
  | { kind: 'cacheKey'; input: Omit<ResultCacheInput, 'text'>; text: Uint8Array }
  | { kind: 'preload'; families: TokenizerFamily[] };

export type SplitTaskResult =
  | { kind: 'split'; packed: PackedTurns; threadId: number }
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
      // Transferred, not copied: the main thread receives the buffers without a pass over them.
      return move({
        [transferableSymbol]: packedTurnsTransferList(packed),
        [valueSymbol]: { kind: 'split', packed, threadId } satisfies SplitTaskResult,
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
