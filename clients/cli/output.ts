import { Presets, SingleBar } from 'cli-progress';
import type { JobMessage, Service } from '../typescript/src';

/** The user's language (`fr` for `fr-FR`), from the locale Node runs with. */
export function userLanguage(): string {
  return Intl.DateTimeFormat().resolvedOptions().locale.split('-')[0] ?? 'en';
}

/** A service's description in `language`, else English, else its first one, as the web client shows it. */
export function describeService(service: Service, language: string): string {
  const description = service.description;
  if (typeof description === 'string') return description;
  if (!description) return '';
  return description[language] ?? description.en ?? Object.values(description)[0] ?? '';
}

/** Rows as columns padded to their widest cell; the last column is not padded. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows];
  const widths = header.map((_, column) => Math.max(...all.map((row) => (row[column] ?? '').length)));
  return all
    .map((row) =>
      row
        .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** One line for a state, e.g. `processing 42%`. */
export function describeState(state: JobMessage): string {
  switch (state.status) {
    case 'queued':
    case 'started':
    case 'complete':
      return state.status;
    case 'processing':
      return `processing ${state.progress}%`;
    case 'error':
      return `error: ${state.details}`;
    case 'unknown':
      return 'unknown: no such job (never existed, or expired)';
    default: {
      const unhandled: never = state;
      return String(unhandled);
    }
  }
}

/** The progress of a job as a bar on stderr, fed with its states. */
export class ProgressDisplay {
  private readonly bar: SingleBar;
  private isStarted = false;

  constructor(options: { force: boolean }) {
    this.bar = new SingleBar(
      {
        stream: process.stderr,
        format: '{bar} {percentage}% | {status}',
        barsize: 30,
        hideCursor: true,
        clearOnComplete: false,
        // Off a terminal (a pipe, a file) the bar is drawn only when asked for, one line per update.
        noTTYOutput: options.force,
        notTTYSchedule: 250,
        gracefulExit: false, // the CLI handles Ctrl-C itself and stops the bar
      },
      Presets.shades_classic,
    );
  }

  update(state: JobMessage): void {
    const percent =
      state.status === 'processing' ? Number(state.progress) : state.status === 'complete' ? 100 : 0;
    if (!this.isStarted) {
      this.bar.start(100, percent, { status: state.status });
      this.isStarted = true;
    } else {
      this.bar.update(percent, { status: state.status });
    }
  }

  stop(): void {
    if (this.isStarted) this.bar.stop();
  }
}
