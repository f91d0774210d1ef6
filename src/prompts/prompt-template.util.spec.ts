import { PromptError } from './prompt.error';
import { countPlaceholders, fillTemplate } from './prompt-template.util';

describe('countPlaceholders', () => {
  it.each([
    ['no placeholder', 0],
    ['Summary so far:\n{}\nNew turns:\n{}', 2],
    ['{}', 1],
    ['{{}}', 0],
    ['Return JSON like {{"speaker": "text"}} for:\n{}', 1],
    ['{}{}{}', 3],
    ['{{{}}}', 1],
  ])('%p has %i', (template, expected) => {
    expect(countPlaceholders(template)).toBe(expected);
  });

  it.each([
    ['{0}', /unsupported "\{0\}" at line 1, column 1/],
    ['Hello {name}', /unsupported "\{name\}" at line 1, column 7/],
    ['line\n  } stray', /unsupported "}" at line 2, column 3/],
    ['open { brace', /line 1, column 6/],
    ['{:>10}', /unsupported/],
  ])('%p is a template error', (template, message) => {
    expect(() => countPlaceholders(template)).toThrow(message);
    expect(() => countPlaceholders(template)).toThrow(PromptError);
  });
});

describe('fillTemplate', () => {
  it.each([
    ['A {} B {}', ['1', '2'], 'A 1 B 2'],
    ['{{literal}} {}', ['x'], '{literal} x'],
    ['{}', ['value with {} and {{ inside'], 'value with {} and {{ inside'],
    ['none', [], 'none'],
  ])('%p with %p', (template, values, expected) => {
    expect(fillTemplate(template, values)).toBe(expected);
  });

  it('refuses a value count that differs from the placeholders', () => {
    expect(() => fillTemplate('{} {}', ['only one'])).toThrow(
      'template has 2 placeholder(s) but 1 value(s) were given',
    );
  });
});
