// The cost of /metrics on submission throughput: generate requests per second against one API
// process, without and with a Prometheus-like scrape every second, alternated in the same run
// (the run without scrapes is the baseline). Run with `npm run bench`.
import { startRedisServer } from '../test/support/redis-server';
import { startSampleApiProcess } from './gateway-process';

const CLIENTS = 16;
const ROUND_MS = 5_000;
const ROUNDS = 3;
const SCRAPE_EVERY_MS = 1_000;

/** Requests per second that CLIENTS closed-loop clients get answered 200 during ROUND_MS. */
async function submissionRate(
  baseUrl: string,
  isScraping: boolean,
): Promise<{ perSecond: number; scrapes: number }> {
  const endAt = performance.now() + ROUND_MS;
  let accepted = 0;
  let scrapes = 0;
  const scraper = isScraping
    ? setInterval(() => {
        void fetch(`${baseUrl}/metrics`)
          .then((response) => response.text())
          .then(() => (scrapes += 1));
      }, SCRAPE_EVERY_MS)
    : undefined;
  const client = async () => {
    while (performance.now() < endAt) {
      const response = await fetch(`${baseUrl}/services/summarize/en/generate`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ content: 'Alice : hello\nBob : good morning to you', flavor: 'llama' }),
      });
      await response.arrayBuffer();
      if (response.status === 200) accepted += 1;
    }
  };
  const startedAt = performance.now();
  await Promise.all(Array.from({ length: CLIENTS }, client));
  clearInterval(scraper);
  return { perSecond: accepted / ((performance.now() - startedAt) / 1000), scrapes };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

async function main(): Promise<void> {
  const redis = await startRedisServer();
  const api = await startSampleApiProcess(redis.url);
  try {
    await submissionRate(api.baseUrl, false); // warm-up
    const without: number[] = [];
    const withScrapes: number[] = [];
    let scrapeCount = 0;
    for (let round = 0; round < ROUNDS; round += 1) {
      without.push((await submissionRate(api.baseUrl, false)).perSecond);
      const scraped = await submissionRate(api.baseUrl, true);
      withScrapes.push(scraped.perSecond);
      scrapeCount += scraped.scrapes;
    }
    const ours = median(withScrapes);
    const baseline = median(without);
    const scrapeBytes = (await (await fetch(`${api.baseUrl}/metrics`)).text()).length;
    process.stdout.write(
      [
        `## /metrics cost: POST generate answered 200 per second, one API process (ROLE=api), ${CLIENTS} clients, median of ${ROUNDS} rounds of ${ROUND_MS / 1000} s`,
        '',
        '| what | ours: with a /metrics scrape every second | baseline: no scrape (same run) | ratio |',
        '| --- | --- | --- | --- |',
        `| submissions | ${ours.toFixed(0)} req/s (${scrapeCount} scrapes, ${(scrapeBytes / 1024).toFixed(0)} KiB each) | ${baseline.toFixed(0)} req/s | ${(ours / baseline).toFixed(2)} |`,
        '',
      ].join('\n'),
    );
  } finally {
    await api.close();
    await redis.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${String(error)}\n`);
  process.exit(1);
});
