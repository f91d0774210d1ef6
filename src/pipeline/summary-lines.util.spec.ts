import { answerLines, consolidateSpeakers } from './summary-lines.util';

describe('answerLines', () => {
  it.each([
    ['Alice : a\n\n  Bob : b  \n', 'abstractive', ['Alice : a', 'Bob : b']],
    ['  ', 'extractive', []],
    ['\n# Decisions\n\n- ship it\n', 'markdown', ['# Decisions', '', '- ship it']],
  ] as const)('%p as %s', (answer, type, expected) => {
    expect(answerLines(answer, type)).toEqual(expected);
  });
});

describe('consolidateSpeakers', () => {
  it.each([
    [
      ['Alice : a', 'Alice : b', 'Bob : c', 'Alice : d'],
      ['Alice : a b', 'Bob : c', 'Alice : d'],
    ],
    [['Alice: a', 'Alice :b'], ['Alice : a b']],
    [
      ['no speaker here', 'Alice : a'],
      ['no speaker here', 'Alice : a'],
    ],
    [
      ['王经理：预算已批准', '王经理：下周交付', 'Sofía: sí'],
      ['王经理 : 预算已批准 下周交付', 'Sofía : sí'],
    ],
    [
      ['10:30 the call starts', '10:45 it ends'],
      ['10:30 the call starts', '10:45 it ends'],
    ],
    [[], []],
  ])('%p', (lines, expected) => {
    expect(consolidateSpeakers(lines)).toEqual(expected);
  });
});
