import { speakerPrefixOf } from '../chunking/turns.util';
import type { OutputType } from '../jobs/job-payload';

/**
 * The lines an answer adds to the summary (docs/api.md 6.3): its non-empty trimmed lines, except
 * for `markdown`, whose answer is kept as written (blank lines, headings and lists included).
 */
export function answerLines(answer: string, outputType: OutputType): string[] {
  if (outputType === 'markdown') {
    const trimmed = answer.replace(/^\s*\n/, '').trimEnd();
    return trimmed === '' ? [] : trimmed.split('\n');
  }
  return answer
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
}

/**
 * `consolidateSummary`: consecutive lines of the same speaker (named as turns name them: any
 * script, `:` or `：`) become one `Speaker : text text` line, as v1 wrote them; lines without a
 * speaker are kept as they are. Pure.
 */
export function consolidateSpeakers(lines: readonly string[]): string[] {
  const merged: { speaker: string | undefined; text: string }[] = [];
  for (const line of lines) {
    const prefix = speakerPrefixOf(line);
    const speaker = prefix?.speaker.trim();
    const text = prefix ? line.slice(prefix.prefix.length).trim() : line;
    const previous = merged.at(-1);
    if (speaker && previous?.speaker === speaker) {
      previous.text = `${previous.text} ${text}`.trim();
    } else {
      merged.push(speaker ? { speaker, text } : { speaker: undefined, text: line });
    }
  }
  return merged.map((entry) => (entry.speaker ? `${entry.speaker} : ${entry.text}` : entry.text));
}
