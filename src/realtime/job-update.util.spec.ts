import type { JobStatusBody } from '../jobs/job-status.util';
import { feedMessage, nextMessage, type SentState, statusRank, unsentLines } from './job-update.util';

const queued: JobStatusBody = { status: 'queued', message: 'Task is in queue' };
const started: JobStatusBody = { status: 'started', message: 'Task started' };
const processing = (progress: number): JobStatusBody => ({
  status: 'processing',
  message: 'Task is in progress',
  progress: String(progress),
});
const complete: JobStatusBody = { status: 'complete', message: 'success', summarization: 'A : hi' };
const failed: JobStatusBody = { status: 'error', message: 'Task failed', details: 'boom', error: 'boom' };
const unknown: JobStatusBody = { status: 'unknown', message: 'Task does not exist' };
const fresh: SentState = { lastBody: undefined, partialLineCount: 0 };
const after = (lastBody: JobStatusBody, partialLineCount = 0): SentState => ({ lastBody, partialLineCount });

describe('statusRank', () => {
  it('orders the states a job passes through', () => {
    const order = [queued, started, processing(0), processing(9), processing(10), processing(100), complete];
    const ranks = order.map(statusRank);
    expect([...ranks].sort((a, b) => a - b)).toEqual(ranks);
    expect(new Set(ranks).size).toBe(ranks.length);
    expect(statusRank(failed)).toBe(statusRank(complete));
    expect(statusRank(unknown)).toBe(statusRank(complete));
  });
});

describe('nextMessage', () => {
  it.each<[string, SentState, JobStatusBody, string[], boolean, object | undefined, number]>([
    ['first state', fresh, queued, [], false, queued, 0],
    ['state advances', after(queued), started, [], false, started, 0],
    ['same state again', after(started), started, [], false, undefined, 0],
    ['same percent again', after(processing(40)), processing(40), [], false, undefined, 0],
    ['percent advances', after(processing(40)), processing(41), [], false, processing(41), 0],
    ['never backwards: queued after processing', after(processing(40)), queued, [], false, undefined, 0],
    ['never backwards: lower percent', after(processing(40)), processing(30), [], false, undefined, 0],
    ['complete after processing', after(processing(99)), complete, [], false, complete, 0],
    ['nothing after complete', after(complete), processing(100), [], false, undefined, 0],
    ['nothing after error', after(failed), complete, [], false, undefined, 0],
    ['lines ignored without partial', after(processing(40)), processing(40), ['a'], false, undefined, 0],
    [
      'partial: new lines at the same percent',
      after(processing(40), 2),
      processing(40),
      ['c', 'd'],
      true,
      { ...processing(40), partial: 'c\nd\n' },
      4,
    ],
    [
      'partial: percent advances without lines',
      after(processing(40), 2),
      processing(50),
      [],
      true,
      { ...processing(50), partial: '' },
      2,
    ],
    [
      'partial: lines with a lower percent keep the higher one',
      after(processing(40), 2),
      processing(30),
      ['c'],
      true,
      { ...processing(40), partial: 'c\n' },
      3,
    ],
    ['partial: complete carries no partial', after(processing(90), 2), complete, ['c'], true, complete, 2],
    ['partial: queued carries no partial', fresh, queued, [], true, queued, 0],
  ])('%s', (_name, sent, body, lines, withPartial, expected, partialLineCount) => {
    const result = nextMessage(sent, body, lines, withPartial);
    expect(result.message).toEqual(expected);
    expect(result.sent.partialLineCount).toBe(partialLineCount);
  });

  it('remembers the state it sent, without the partial lines', () => {
    const { sent } = nextMessage(after(processing(10)), processing(20), ['x'], true);
    expect(sent.lastBody).toEqual(processing(20));
  });
});

describe('unsentLines', () => {
  it.each<[number, number, string[], ReturnType<typeof unsentLines>]>([
    [0, 2, ['a', 'b'], { kind: 'lines', lines: ['a', 'b'] }],
    [2, 4, ['c', 'd'], { kind: 'lines', lines: ['c', 'd'] }],
    [3, 4, ['c', 'd'], { kind: 'lines', lines: ['d'] }],
    [4, 4, ['c', 'd'], { kind: 'lines', lines: [] }],
    [6, 4, ['c', 'd'], { kind: 'lines', lines: [] }],
    [1, 4, ['c', 'd'], { kind: 'gap' }],
    [0, 0, [], { kind: 'lines', lines: [] }],
  ])('%i sent, event up to %i', (sentCount, summaryLineCount, newSummaryLines, expected) => {
    expect(unsentLines(sentCount, { summaryLineCount, newSummaryLines })).toEqual(expected);
  });
});

describe('feedMessage', () => {
  it.each<[JobStatusBody, object]>([
    [queued, { task_id: 'j', ...queued }],
    [processing(42), { task_id: 'j', ...processing(42) }],
    [complete, { task_id: 'j', ...complete, progress: '100' }],
    [failed, { task_id: 'j', ...failed }],
    [unknown, { task_id: 'j', ...unknown }],
  ])('%p', (body, expected) => {
    expect(feedMessage('j', body)).toEqual(expected);
  });
});
