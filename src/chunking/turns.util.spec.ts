import { splitTurns, turnLine } from './turns.util';

describe('splitTurns', () => {
  it.each([
    [
      'Alice : hello\nBob: hi there',
      [
        ['Alice', 'hello'],
        ['Bob', 'hi there'],
      ],
    ],
    ['Alice :hello', [['Alice', 'hello']]],
    ['Project Manager : okay', [['Project Manager', 'okay']]],
    ['Hélène-Marie : bonjour', [['Hélène-Marie', 'bonjour']]],
    [
      '\n\nAlice : a\n\n   \nBob : b\n',
      [
        ['Alice', 'a'],
        ['Bob', 'b'],
      ],
    ],
    [
      'Alice : first\ncontinued line\nBob : b',
      [
        ['Alice', 'first'],
        ['Alice', 'continued line'],
        ['Bob', 'b'],
      ],
    ],
    [
      'no speaker yet\nAlice : a',
      [
        ['(?)', 'no speaker yet'],
        ['Alice', 'a'],
      ],
    ],
    ['Alice : time is 10:30 : late', [['Alice', 'time is 10:30 : late']]],
    ['Alice :\nstill Alice', [['Alice', 'still Alice']]],
    [
      'Alice : a\r\nBob : b\r\n',
      [
        ['Alice', 'a'],
        ['Bob', 'b'],
      ],
    ],
  ])('%p', (text, expected) => {
    expect(splitTurns(text).map((turn) => [turn.speaker, turn.text])).toEqual(expected);
  });

  it('renders a turn as "Speaker : text"', () => {
    expect(turnLine({ speaker: 'Alice', text: 'hi' })).toBe('Alice : hi');
  });
});
