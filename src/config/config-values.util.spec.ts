import { brokerLabel, parseBrokerUrl, redisUrl } from './config-values.util';

describe('parseBrokerUrl', () => {
  it.each([
    ['redis://localhost:6379/0', { kind: 'redis', url: 'redis://localhost:6379/0' }],
    ['rediss://:pw@cache:6380', { kind: 'redis', url: 'rediss://:pw@cache:6380' }],
    [
      'redis+sentinel://s1:26379,s2:26380/mymaster/2',
      {
        kind: 'sentinel',
        sentinels: [
          { host: 's1', port: 26379 },
          { host: 's2', port: 26380 },
        ],
        masterName: 'mymaster',
        db: 2,
        password: undefined,
      },
    ],
    [
      'redis+sentinel://127.0.0.1,[::1]:5000/main',
      {
        kind: 'sentinel',
        sentinels: [
          { host: '127.0.0.1', port: 26379 },
          { host: '::1', port: 5000 },
        ],
        masterName: 'main',
        db: 0,
        password: undefined,
      },
    ],
    [
      'redis+sentinel://:p%40ss@s1:26379/mymaster',
      {
        kind: 'sentinel',
        sentinels: [{ host: 's1', port: 26379 }],
        masterName: 'mymaster',
        db: 0,
        password: 'p@ss',
      },
    ],
  ])('reads %s', (url, expected) => {
    expect(parseBrokerUrl(url)).toEqual(expected);
  });

  it.each([
    ['redis+sentinel://', /no Sentinel address/],
    ['redis+sentinel://s1:26379', /no master name/],
    ['redis+sentinel://s1:26379/', /no master name/],
    ['redis+sentinel://s1:99999/mymaster', /not host:port/],
    ['redis+sentinel://s1:26379,/mymaster', /not host:port/],
    ['redis+sentinel://s1:26379/mymaster/x', /database must be a number/],
    ['redis+sentinel://s1:26379/mymaster/0/extra', /database must be a number/],
    ['http://localhost:6379', /must be a redis/],
    ['redis://localhost:6379/abc', /must be a redis/],
  ])('refuses %s with a reason', (url, reason) => {
    const parsed = parseBrokerUrl(url);
    expect(parsed).toEqual({ reason: expect.stringMatching(reason) as unknown });
  });

  it('never quotes a password in its reason', () => {
    for (const url of [
      'redis+sentinel://:s3cret@s1:26379',
      'redis+sentinel://:s3cret@s1:x/m',
      'redis://:s3cret@h/x',
    ]) {
      expect(JSON.stringify(parseBrokerUrl(url))).not.toContain('s3cret');
      expect(JSON.stringify(redisUrl(url))).not.toContain('s3cret');
    }
  });

  it('keeps the URL as written for the configuration', () => {
    expect(redisUrl(' redis+sentinel://s1:26379/mymaster/0 ')).toEqual({
      value: 'redis+sentinel://s1:26379/mymaster/0',
    });
  });
});

describe('brokerLabel: where the queue lives, without credentials', () => {
  it.each([
    ['redis://localhost:6379/0', 'redis://localhost:6379/0'],
    ['redis://:secret@127.0.0.1:6380', 'redis://127.0.0.1:6380/0'],
    ['rediss://user:secret@redis.example:6380/3', 'rediss://redis.example:6380/3'],
    ['redis+sentinel://:secret@s1:26379,s2/mymaster/2', 'redis+sentinel://s1:26379,s2:26379/mymaster/2'],
    ['not a url', 'an invalid broker URL'],
  ])('%s -> %s', (raw, expected) => {
    expect(brokerLabel(raw)).toBe(expected);
    expect(brokerLabel(raw)).not.toContain('secret');
  });
});
