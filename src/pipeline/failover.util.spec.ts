import { InferenceError } from '../inference/inference.error';
import type { FlavorParameters } from '../jobs/job-payload';
import { testFlavor } from '../../test/support/pipeline-fixtures';
import { hasRoomForText, isFailoverError, isPlanShared } from './failover.util';

const flavor = testFlavor({ name: 'big', modelName: 'big-model', fallback: 'small' });

describe('isFailoverError', () => {
  it.each<[unknown, boolean]>([
    [new InferenceError('LLM call failed after 6 attempts: 500 boom', 'RETRIES_EXHAUSTED'), true],
    [new InferenceError('LLM API rejected the request (404): no such model', 'MODEL_NOT_FOUND'), true],
    [new InferenceError('LLM API rejected the request (401): bad key', 'REQUEST_REJECTED'), false],
    [new InferenceError('too long', 'CONTEXT_LENGTH'), false],
    [new InferenceError('cancelled', 'CANCELLED'), false],
    [new Error('LLM call failed after 6 attempts'), false],
    [undefined, false],
  ])('%s → %s', (error, expected) => {
    expect(isFailoverError(error)).toBe(expected);
  });
});

describe('isPlanShared', () => {
  it.each<[Partial<FlavorParameters>, boolean]>([
    [{ name: 'small', modelName: 'small-model', temperature: 0.9, top_p: 1, fallback: null }, true],
    [{ reduceSummary: true, consolidateSummary: true }, true],
    [{ totalContextLength: 8192 }, false],
    [{ maxGenerationLength: 256 }, false],
    [{ tokenizerClass: 'o200k_base' }, false],
    [{ createNewTurnAfter: 200 }, false],
    [{ summaryTurns: 0 }, false],
    [{ maxNewTurns: 4 }, false],
    [{ type: 'markdown' }, false],
  ])('to a flavor differing by %j: %s', (change, expected) => {
    expect(isPlanShared(flavor, { ...flavor, ...change })).toBe(expected);
  });
});

describe('hasRoomForText', () => {
  it.each<[number, number, number, boolean]>([
    [4096, 512, 100, true],
    // floor((4096 - 512) / 1.15) = 3116 tokens for prompt and text
    [4096, 512, 3115, true],
    [4096, 512, 3116, false],
    [100, 90, 1, true],
    [100, 90, 9, false],
  ])('context %i, generation %i, prompt %i tokens: %s', (total, generation, prompt, expected) => {
    expect(
      hasRoomForText({ ...flavor, totalContextLength: total, maxGenerationLength: generation }, prompt),
    ).toBe(expected);
  });
});
