import {
  MAX_FRAME_BYTES,
  MAX_IDS_PER_FRAME,
  parseSubscriptionFrame,
  type SubscriptionFrame,
} from './subscription-frame.util';

const ids = (count: number) => Array.from({ length: count }, (_, index) => `job-${index}`);

describe('parseSubscriptionFrame', () => {
  it.each<[string, Buffer | string, SubscriptionFrame | RegExp]>([
    ['one id', '["a"]', { kind: 'ids', jobIds: ['a'] }],
    ['several ids, duplicates dropped', '["a","b","a"]', { kind: 'ids', jobIds: ['a', 'b'] }],
    ['an empty array', '[]', { kind: 'ids', jobIds: [] }],
    ['a binary frame holding JSON', Buffer.from('["a"]'), { kind: 'ids', jobIds: ['a'] }],
    ['1,000 ids', JSON.stringify(ids(MAX_IDS_PER_FRAME)), { kind: 'ids', jobIds: ids(MAX_IDS_PER_FRAME) }],
    ['not JSON', 'hello', /not JSON/],
    ['a truncated array', '["a",', /not JSON/],
    ['an object', '{"ids":["a"]}', /not a JSON array/],
    ['a string', '"a"', /not a JSON array/],
    ['null', 'null', /not a JSON array/],
    ['a number among the ids', '["a", 3]', /Element 1 is not a job id/],
    ['an empty id', '[""]', /Element 0 is not a job id/],
    ['an over-long id', JSON.stringify(['x'.repeat(300)]), /Element 0/],
    ['1,001 ids', JSON.stringify(ids(MAX_IDS_PER_FRAME + 1)), /1001 job ids; at most 1000/],
    ['over 64 KB', JSON.stringify(['x'.repeat(MAX_FRAME_BYTES)]), /over the 65536-byte limit/],
  ])('%s', (_name, frame, expected) => {
    const result = parseSubscriptionFrame(frame);
    if (expected instanceof RegExp) {
      expect(result.kind).toBe('invalid');
      expect(result.kind === 'invalid' ? result.reason : '').toMatch(expected);
    } else {
      expect(result).toEqual(expected);
    }
  });
});
