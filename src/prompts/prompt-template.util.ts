import { PromptError } from './prompt.error';

type TemplatePart = { kind: 'text'; text: string } | { kind: 'placeholder' };

/**
 * Parses a prompt with Python `str.format` positional semantics restricted to what v1 used:
 * `{}` is a placeholder, `{{` and `}}` are literal braces. Any other `{...}` or a lone brace is
 * a TEMPLATE_SYNTAX error naming its line and column.
 */
export function parseTemplate(template: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let text = '';
  for (let index = 0; index < template.length; index += 1) {
    const character = template.charAt(index);
    const next = template.charAt(index + 1);
    if (character === '{' && next === '{') {
      text += '{';
      index += 1;
    } else if (character === '}' && next === '}') {
      text += '}';
      index += 1;
    } else if (character === '{' && next === '}') {
      parts.push({ kind: 'text', text }, { kind: 'placeholder' });
      text = '';
      index += 1;
    } else if (character === '{' || character === '}') {
      throw new PromptError(describeBadBrace(template, index), 'TEMPLATE_SYNTAX');
    } else {
      text += character;
    }
  }
  parts.push({ kind: 'text', text });
  return parts.filter((part) => part.kind === 'placeholder' || part.text !== '');
}

/** Number of `{}` placeholders; throws PromptError on a template syntax error. */
export function countPlaceholders(template: string): number {
  return parseTemplate(template).filter((part) => part.kind === 'placeholder').length;
}

/**
 * Fills the placeholders in order, as Python's `template.format(*values)`. The values are
 * inserted verbatim (braces in them are not interpreted). Throws PLACEHOLDER_COUNT when the
 * number of values differs from the number of placeholders.
 */
export function fillTemplate(template: string, values: readonly string[]): string {
  const parts = parseTemplate(template);
  const placeholderCount = parts.filter((part) => part.kind === 'placeholder').length;
  if (placeholderCount !== values.length) {
    throw new PromptError(
      `template has ${placeholderCount} placeholder(s) but ${values.length} value(s) were given`,
      'PLACEHOLDER_COUNT',
    );
  }
  let valueIndex = 0;
  return parts
    .map((part) => (part.kind === 'text' ? part.text : (values[valueIndex++] ?? '')))
    .join('');
}

function describeBadBrace(template: string, index: number): string {
  const before = template.slice(0, index);
  const line = before.split('\n').length;
  const column = index - before.lastIndexOf('\n');
  const closing = template.indexOf('}', index);
  const snippet =
    template[index] === '{' && closing !== -1 && closing - index < 40
      ? template.slice(index, closing + 1)
      : template[index];
  return `unsupported "${snippet}" at line ${line}, column ${column}: only {} placeholders are allowed (write {{ and }} for literal braces)`;
}
