import { usageCountsFromSaved } from './usage-counts.util';

const zero = { calls: 0, promptTokens: 0, completionTokens: 0, elapsedMs: 0 };
const counts = { calls: 4, promptTokens: 4000, completionTokens: 300, elapsedMs: 1250 };

describe('usageCountsFromSaved', () => {
  it.each<[unknown, object]>([
    [{ kind: 'map', answers: [], usage: counts }, counts],
    [{ kind: 'progressive', nextTurn: 3, summaryLines: [] }, zero],
    [
      { kind: 'map', answers: [], usage: { ...counts, calls: -1, elapsedMs: 'x' } },
      { ...counts, calls: 0, elapsedMs: 0 },
    ],
    [{ usage: null }, zero],
    [undefined, zero],
    ['{"usage":{}}', zero],
  ])('%j reads as %j', (saved, expected) => {
    expect(usageCountsFromSaved(saved)).toEqual(expected);
  });
});
