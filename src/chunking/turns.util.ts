/** One speaker turn; `line` is what the prompt receives: `Speaker : text`. */
export interface Turn {
  speaker: string;
  text: string;
}

export const UNKNOWN_SPEAKER = '(?)';

/** SPEC.md 6.2: a line starting with this pattern starts a turn of that speaker. */
const SPEAKER_PREFIX = /^([A-Za-z0-9\s\-éèêëàâäôöùûüçïîÿæœñ]+?) ?: ?/;

export function turnLine(turn: Turn): string {
  return `${turn.speaker} : ${turn.text}`;
}

/**
 * Splits a transcript into turns (SPEC.md 6.2): blank lines are dropped; a line starting with
 * `Speaker :` starts a turn of that speaker; a line without one is a turn of the previous
 * speaker (`(?)` before any speaker). Never drops or reorders text. Pure.
 */
export function splitTurns(transcript: string): Turn[] {
  const turns: Turn[] = [];
  let currentSpeaker = UNKNOWN_SPEAKER;
  for (const rawLine of transcript.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (line === '') continue;
    const match = SPEAKER_PREFIX.exec(line);
    const speaker = match?.[1]?.trim();
    if (match && speaker) {
      currentSpeaker = speaker;
      const text = line.slice(match[0].length).trim();
      if (text !== '') turns.push({ speaker, text });
      continue;
    }
    turns.push({ speaker: currentSpeaker, text: line });
  }
  return turns;
}
