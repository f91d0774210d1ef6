import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { splitSentences } from './sentences.util';
import { splitTurns } from './turns.util';

describe('splitSentences', () => {
  it.each([
    ['English', 'One. Two? Three! Four', ['One. ', 'Two? ', 'Three! ', 'Four']],
    ['an ellipsis is not an end (ICU: speech trails off)', 'Well… Maybe. Yes', ['Well… Maybe. ', 'Yes']],
    ['whitespace stays with its sentence', 'One.  Two.\tThree.', ['One.  ', 'Two.\t', 'Three.']],
    [
      'no cut before a lower-case word',
      'It costs approx. ten euros. Fine.',
      ['It costs approx. ten euros. ', 'Fine.'],
    ],
    ['no cut inside a number', 'It is 10.30 now. Go.', ['It is 10.30 now. ', 'Go.']],
    [
      'no cut after a title',
      "Dr. O'Brien agreed. Mrs. Smith did not.",
      ["Dr. O'Brien agreed. ", 'Mrs. Smith did not.'],
    ],
    ['no cut after an initial', 'J. R. Smith came. He left.', ['J. R. Smith came. ', 'He left.']],
    [
      'French: no cut after M., a closing » stays with its sentence',
      'M. Lefèvre a dit : « on signe ! » Puis il est parti.',
      ['M. Lefèvre a dit : « on signe ! » ', 'Puis il est parti.'],
    ],
    [
      'Spanish',
      '¿Estamos de acuerdo? ¡Sí! La Sra. Gómez también.',
      ['¿Estamos de acuerdo? ', '¡Sí! ', 'La Sra. Gómez también.'],
    ],
    [
      'Polish',
      'Tak. Czy klient się zgodzi? Tzn. jutro.',
      ['Tak. ', 'Czy klient się zgodzi? ', 'Tzn. jutro.'],
    ],
    ['Russian', 'Итак, начнём. Есть возражения? Нет!', ['Итак, начнём. ', 'Есть возражения? ', 'Нет!']],
    ['Chinese: no space after 。？！', '你好。大家都同意吗？是的！', ['你好。', '大家都同意吗？', '是的！']],
    [
      'Chinese: no cut inside a quotation',
      '他说：“我们同意。”然后走了。',
      ['他说：“我们同意。”', '然后走了。'],
    ],
    [
      'Japanese: an opening bracket starts its sentence',
      '言っていました！「便利です。」と。',
      ['言っていました！', '「便利です。」', 'と。'],
    ],
    ['Japanese', 'はい。どう思いますか？', ['はい。', 'どう思いますか？']],
    ['Arabic: ؟ and ۔', 'هل نبدأ؟ نعم. سنبدأ غداً۔ حسناً!', ['هل نبدأ؟ ', 'نعم. ', 'سنبدأ غداً۔ ', 'حسناً!']],
    ['Hindi: the danda', 'ठीक है। क्या आप सहमत हैं? हाँ।', ['ठीक है। ', 'क्या आप सहमत हैं? ', 'हाँ।']],
    ['mixed scripts', '好的。OK. Next one?', ['好的。', 'OK. ', 'Next one?']],
    [
      'a closing bracket glued to the next word is not moved',
      'Hej! »Farvel« sagde han.',
      ['Hej! ', '»Farvel« sagde han.'],
    ],
    ['one sentence', 'no end mark', ['no end mark']],
    ['empty', '', []],
  ])('%s', (_case, text, expected) => {
    const sentences = splitSentences(text);
    expect(sentences).toEqual(expected);
    expect(sentences.join('')).toBe(text);
  });

  const directories = ['transcripts', 'transcripts-multilingual'];
  const files = directories.flatMap((directory) =>
    readdirSync(join(__dirname, '../../test/fixtures', directory))
      .filter((file) => file.endsWith('.txt'))
      .map((file) => join(directory, file)),
  );

  it.each(files)('%s: every turn is its sentences joined, each starting with a non-space', (file) => {
    const text = readFileSync(join(__dirname, '../../test/fixtures', file), 'utf8');
    for (const turn of splitTurns(text)) {
      const sentences = splitSentences(turn.text);
      expect(sentences.join('')).toBe(turn.text);
      for (const sentence of sentences) expect(sentence).toMatch(/^\S/u);
    }
  });
});
