import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { speakerPrefixOf, splitTurns, turnLine } from './turns.util';

const multilingual = (file: string) =>
  readFileSync(join(__dirname, '../../test/fixtures/transcripts-multilingual', file), 'utf8');

describe('speakerPrefixOf', () => {
  it.each([
    ['Alice : hello', 'Alice', 'Alice : '],
    ['Bob: hi there', 'Bob', 'Bob: '],
    ['Alice :hello', 'Alice', 'Alice :'],
    ['Bob:x', 'Bob', 'Bob:'],
    ['Bob   :   spaced', 'Bob', 'Bob   :   '],
    ['Bob :', 'Bob', 'Bob :'],
    ['Project Manager : okay', 'Project Manager', 'Project Manager : '],
    ['Speaker 2: yes', 'Speaker 2', 'Speaker 2: '],
    ['Hélène-Marie : bonjour', 'Hélène-Marie', 'Hélène-Marie : '],
    ["Chloé N'Diaye : oui", "Chloé N'Diaye", "Chloé N'Diaye : "],
    ['Jean O’Neil : oui', 'Jean O’Neil', 'Jean O’Neil : '],
    ["Dr. O'Brien: Right.", "Dr. O'Brien", "Dr. O'Brien: "],
    ['Martin Luther King Jr.: I have a dream.', 'Martin Luther King Jr.', 'Martin Luther King Jr.: '],
    ['Sofía: ¿Empezamos?', 'Sofía', 'Sofía: '],
    ['Joan Ol·lé: Bon dia.', 'Joan Ol·lé', 'Joan Ol·lé: '],
    ['Łukasz: Dzień dobry.', 'Łukasz', 'Łukasz: '],
    ['Дмитрий: Добрый день.', 'Дмитрий', 'Дмитрий: '],
    ['王经理：大家好。', '王经理', '王经理：'],
    ['王经理: 大家好。', '王经理', '王经理: '],
    ['张伟 ： 好的', '张伟', '张伟 ： '],
    ['田中さん：はい。', '田中さん', '田中さん：'],
    ['ジョン・スミス：よろしく。', 'ジョン・スミス', 'ジョン・スミス：'],
    ['أحمد: مرحبا بالجميع.', 'أحمد', 'أحمد: '],
    ['محمّد: نعم.', 'محمّد', 'محمّد: '],
    ['राहुल शर्मा: नमस्ते।', 'राहुल शर्मा', 'राहुल शर्मा: '],
    ['नेहा: ठीक है।', 'नेहा', 'नेहा: '],
    ['1: first speaker', '1', '1: '],
    // As v1: any short label followed by a colon starts a turn.
    ['Note: the budget', 'Note', 'Note: '],
    ['Alice : time is 10:30 : late', 'Alice', 'Alice : '],
    ['Alice : see http://example.com', 'Alice', 'Alice : '],
    [`${'A'.repeat(80)}: x`, 'A'.repeat(80), `${'A'.repeat(80)}: `],
  ])('%j starts a turn of %j, prefix %j', (line, speaker, prefix) => {
    expect(speakerPrefixOf(line)).toEqual({ speaker, prefix });
  });

  it.each([
    ['a URL', 'http://example.com/agenda'],
    ['a URL with a label-like scheme', 'https://intranet/budget: see there'],
    ['a time', '10:30 we start'],
    ['a time after words', 'At 10:30 we start: room B'],
    ['a ratio', 'Mix it 2:1 with water'],
    ['a dash first', '- Bob: hi'],
    ['a bracket first', '(laughs): yes'],
    ['a timestamp first', '[00:01:02] Bob: hi'],
    ['a sentence with a comma before the colon', 'As we said, the plan: go'],
    ['a name over 80 characters', `${'A'.repeat(81)}: x`],
    ['a name ending with a hyphen', 'Bob-: x'],
    ['no colon', 'just words'],
    ['a colon first', ': nothing before'],
    ['an emoticon', ':) nice'],
  ])('%s is not a speaker: %j', (_case, line) => {
    expect(speakerPrefixOf(line)).toBeUndefined();
  });
});

describe('splitTurns', () => {
  it.each([
    ['speaker lines as written', 'Alice : hello\nBob: hi there', ['Alice : hello', 'Bob: hi there']],
    ['no space around the colon', 'Alice :hello\nBob:hi', ['Alice :hello', 'Bob:hi']],
    ['blank and whitespace-only lines dropped', '\n\nAlice : a\n\n \t \nBob : b\n', ['Alice : a', 'Bob : b']],
    [
      'a continuation line takes its speaker prefix as typed',
      'Alice : first\ncontinued line\nBob: b\nmore of Bob',
      ['Alice : first', 'Alice : continued line', 'Bob: b', 'Bob: more of Bob'],
    ],
    ['before any speaker', 'no speaker yet\nAlice : a', ['(?) : no speaker yet', 'Alice : a']],
    [
      'a speaker line with no text is a turn',
      'Alice :\nstill Alice\nBob:\nBob too',
      ['Alice :', 'Alice : still Alice', 'Bob:', 'Bob: Bob too'],
    ],
    ['a bare colon gets a space before a continuation', 'Bob:x\ny', ['Bob:x', 'Bob: y']],
    [
      'the full-width colon needs no space',
      '王经理：大家好。\n继续。',
      ['王经理：大家好。', '王经理：继续。'],
    ],
    ['whitespace at line ends removed', '  Alice : a  \n\u00a0\u3000b\t', ['Alice : a', 'Alice : b']],
    ['a byte-order mark does not hide the first speaker', '\ufeffAlice : a', ['Alice : a']],
    [
      'a URL line continues its speaker',
      'Alice : look\nhttp://x.y/z',
      ['Alice : look', 'Alice : http://x.y/z'],
    ],
    [
      'a time line continues its speaker',
      'Alice : when?\n10:30 tomorrow',
      ['Alice : when?', 'Alice : 10:30 tomorrow'],
    ],
  ])('%s', (_case, text, expected) => {
    expect(splitTurns(text).map(turnLine)).toEqual(expected);
  });

  it('keeps the speaker, the prefix as typed and the text apart', () => {
    expect(splitTurns('Bob:  hi\nagain\nAlice :\n(?) : x')).toEqual([
      { speaker: 'Bob', prefix: 'Bob:  ', text: 'hi' },
      { speaker: 'Bob', prefix: 'Bob:  ', text: 'again' },
      { speaker: 'Alice', prefix: 'Alice :', text: '' },
      { speaker: 'Alice', prefix: 'Alice : ', text: '(?) : x' },
    ]);
  });

  it.each([
    ['\\n', '\n'],
    ['\\r\\n', '\r\n'],
    ['a lone \\r', '\r'],
    ['\\v', '\v'],
    ['\\f', '\f'],
    ['\\x1c', '\x1c'],
    ['\\x1d', '\x1d'],
    ['\\x1e', '\x1e'],
    ['\\x85', '\x85'],
    ['U+2028', '\u2028'],
    ['U+2029', '\u2029'],
  ])('splits lines at %s', (_name, boundary) => {
    const text = ['Alice : a', 'continued', '', 'Bob: b', ''].join(boundary);
    expect(splitTurns(text).map(turnLine)).toEqual(['Alice : a', 'Alice : continued', 'Bob: b']);
  });

  it.each(['\r\n', '\r', '\u2028'])(
    'a multilingual fixture gives the same turns with %j line ends',
    (boundary) => {
      for (const file of ['fr.txt', 'zh.txt', 'hi.txt']) {
        const text = multilingual(file);
        expect(splitTurns(text.replace(/\n/g, boundary))).toEqual(splitTurns(text));
      }
    },
  );
});

describe('splitTurns over the multilingual fixtures', () => {
  const lines = (file: string) =>
    multilingual(file)
      .split('\n')
      .filter((line) => line !== '');

  it.each([
    [
      'fr.txt',
      [
        'Hélène Dubois',
        'Jean-Marc',
        'Hélène Dubois',
        'Jean-Marc',
        "Chloé N'Diaye",
        "Chloé N'Diaye",
        'Hélène Dubois',
        'Jean-Marc',
        'Jean-Marc',
      ],
    ],
    [
      'es.txt',
      [
        'Sofía Martínez',
        'Andrés',
        'Sofía Martínez',
        'Andrés',
        'María José Núñez',
        'María José Núñez',
        'Andrés',
      ],
    ],
    [
      'pl.txt',
      [
        'Łukasz Wójcik',
        'Agnieszka',
        'Łukasz Wójcik',
        'Agnieszka',
        'Grzegorz Brzęczyszczykiewicz',
        'Grzegorz Brzęczyszczykiewicz',
        'Łukasz Wójcik',
      ],
    ],
    [
      'ru.txt',
      [
        'Дмитрий Иванов',
        'Ольга',
        'Дмитрий Иванов',
        'Ольга',
        'Сергей Петрович',
        'Сергей Петрович',
        'Дмитрий Иванов',
      ],
    ],
    ['zh.txt', ['王经理', '李娜', '王经理', '李娜', '张伟', '张伟', '王经理']],
    ['ja.txt', ['田中', '佐藤さん', '田中', '佐藤さん', 'ジョン・スミス', 'ジョン・スミス', '田中']],
    ['ar.txt', ['أحمد', 'فاطمة', 'أحمد', 'فاطمة', 'عبد الله', 'محمّد', 'محمّد', 'أحمد']],
    ['hi.txt', ['राहुल शर्मा', 'प्रिया', 'राहुल शर्मा', 'प्रिया', 'अमित कुमार', 'अमित कुमार', 'राहुल शर्मा']],
  ])('%s: speakers recognised, every speaker line as written', (file, speakers) => {
    const turns = splitTurns(multilingual(file));
    expect(turns.map((turn) => turn.speaker)).toEqual(speakers);
    expect(turns).toHaveLength(lines(file).length);
    turns.forEach((turn, index) => {
      const line = lines(file)[index] ?? '';
      // A speaker line reaches the prompt as written; a continuation line after its speaker's prefix.
      expect(turnLine(turn)).toBe(speakerPrefixOf(line) ? line : turn.prefix + line);
    });
  });

  it.each([
    ['fr.txt', "Chloé N'Diaye : ", 'Il faudrait au moins un remplaçant.'],
    ['es.txt', 'María José Núñez: ', 'Y también las reseñas de los clientes.'],
    ['pl.txt', 'Grzegorz Brzęczyszczykiewicz: ', 'Na wszelki wypadek.'],
    ['ru.txt', 'Сергей Петрович: ', 'Я проверю лично.'],
    ['zh.txt', '张伟: ', '应该问题不大。'],
    ['ja.txt', 'ジョン・スミス：', '配信の機材は私が手配します。'],
    ['ar.txt', 'محمّد: ', 'وسأرسل لكم النتيجة.'],
    ['hi.txt', 'अमित कुमार: ', 'आज शाम तक।'],
  ])('%s: the continuation line goes after its speaker prefix', (file, prefix, text) => {
    expect(splitTurns(multilingual(file)).map(turnLine)).toContain(prefix + text);
  });

  it('fr.txt: a speaker alone on its line is a turn, and its next line reads "Jean-Marc : …"', () => {
    expect(splitTurns(multilingual('fr.txt')).slice(-2).map(turnLine)).toEqual([
      'Jean-Marc :',
      "Jean-Marc : Je m'en occupe, je leur écris cet après-midi.",
    ]);
  });
});
