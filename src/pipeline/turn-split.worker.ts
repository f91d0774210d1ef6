// Runs in the split threads of TurnSplitter (piscina): splitting and counting a large text here
// keeps the worker's event loop free to serve requests and renew job locks. Loaded as compiled
// JavaScript (dist/pipeline/turn-split.worker.js); the vocabularies are pure JS packages.
import { threadId } from 'node:worker_threads';
import { packTurns, type PackedTurns } from '../chunking/packed-turns.util';
import { splitTurns } from '../chunking/turns.util';
import { splitAndCountTurns } from '../chunking/virtual-turns.util';
import type { Tokenizer } from '../tokenizers/tokenizer';
import { TOKENIZER_LOADERS } from '../tokenizers/tokenizer-loaders';
import type { TokenizerFamily } from '../tokenizers/tokenizer-resolution.util';

export type SplitTask =
  | { kind: 'split'; text: string; maxTokensPerTurn: number; family: TokenizerFamily }
  | { kind: 'preload'; families: TokenizerFamily[] };

export type SplitTaskResult =
  | { kind: 'split'; packed: PackedTurns; threadId: number }
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

export default function runSplitTask(task: SplitTask): SplitTaskResult {
  switch (task.kind) {
    case 'split': {
      const tokenizer = tokenizerOf(task.family);
      const counted = splitAndCountTurns(splitTurns(task.text), task.maxTokensPerTurn, tokenizer);
      return { kind: 'split', packed: packTurns(counted), threadId };
    }
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
