import { matchWsPath } from './ws-path.util';

describe('matchWsPath', () => {
  it.each<[string, string, Record<string, string> | undefined]>([
    ['/ws/results', '/ws/results', {}],
    ['/ws/results', '/ws/results/', {}],
    ['/ws/results', '/ws/result', undefined],
    ['/ws/results', '/ws/results/abc', undefined],
    ['/ws/results/:id', '/ws/results/abc', { id: 'abc' }],
    ['/ws/results/:id', '/ws/results/4f1c-9a%20b', { id: '4f1c-9a b' }],
    ['/ws/results/:id', '/ws/results', undefined],
    ['/ws/results/:id', '/ws/results/a/b', undefined],
    ['/ws/results/:id', '/ws/results/%E0%A4%A', undefined],
    ['/ws/results/:id', '/other/results/abc', undefined],
  ])('%s against %s', (pattern, pathname, expected) => {
    expect(matchWsPath(pattern, pathname)).toEqual(expected);
  });
});
