import { checkpointFromSaved, progressToReport } from './job-progress.util';

describe('progressToReport: progress never goes back', () => {
  it.each([
    ['first report', undefined, 0, 10, false, { turnsDone: 0, totalTurns: 10 }],
    ['forward', { turnsDone: 2, totalTurns: 10 }, 4, 10, false, { turnsDone: 4, totalTurns: 10 }],
    ['same ratio', { turnsDone: 2, totalTurns: 10 }, 4, 20, false, { turnsDone: 4, totalTurns: 20 }],
    [
      'a split turn lowers the ratio, no new lines',
      { turnsDone: 5, totalTurns: 10 },
      5,
      12,
      false,
      undefined,
    ],
    [
      'a split turn lowers the ratio, new lines',
      { turnsDone: 5, totalTurns: 10 },
      5,
      12,
      true,
      { turnsDone: 5, totalTurns: 10 },
    ],
    ['no turns at all', undefined, 0, 0, false, { turnsDone: 0, totalTurns: 0 }],
  ])('%s', (_name, last, turnsDone, totalTurns, hasNewLines, expected) => {
    expect(progressToReport(last, turnsDone, totalTurns, hasNewLines)).toEqual(expected);
  });
});

describe('checkpointFromSaved', () => {
  it.each([
    ['nothing', undefined, undefined],
    ['not an object', 'text', undefined],
    ['an unknown kind', { kind: 'other' }, undefined],
    ['a map checkpoint', { kind: 'map', answers: [['a'], null] }, { kind: 'map', answers: [['a'], null] }],
    ['a map checkpoint without answers', { kind: 'map' }, undefined],
    [
      'a progressive checkpoint',
      { kind: 'progressive', nextTurn: 3, summaryLines: ['x'] },
      { kind: 'progressive', nextTurn: 3, summaryLines: ['x'] },
    ],
    [
      'turns saved before prefixes were kept: the prefix they were sent with',
      { kind: 'progressive', nextTurn: 1, summaryLines: [], turns: [{ speaker: 'Bob', text: 'hi' }] },
      {
        kind: 'progressive',
        nextTurn: 1,
        summaryLines: [],
        turns: [{ speaker: 'Bob', prefix: 'Bob : ', text: 'hi' }],
      },
    ],
    [
      'turns with their prefix as typed',
      {
        kind: 'progressive',
        nextTurn: 1,
        summaryLines: [],
        turns: [{ speaker: 'Bob', prefix: 'Bob: ', text: 'hi' }],
      },
      {
        kind: 'progressive',
        nextTurn: 1,
        summaryLines: [],
        turns: [{ speaker: 'Bob', prefix: 'Bob: ', text: 'hi' }],
      },
    ],
  ])('%s', (_name, saved, expected) => {
    expect(checkpointFromSaved(saved)).toEqual(expected);
  });
});
