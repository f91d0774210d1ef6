import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { REPOSITORY_ROOT, startTestGateway, type TestGateway, waitFor } from './support/gateway';
import { LlmSimulator } from './support/llm-simulator';
import { readTranscript, SMALL_FLAVOR, startWorkerGateway } from './support/pipeline-fixtures';

// The page at `/` (web/), driven in Debian's Chromium by playwright-core: no browser is
// downloaded. One browser for the suite, one page per scenario. Screenshots go to a temporary
// folder; UPDATE_SCREENSHOTS=1 writes the README's (docs/images/).

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const DESKTOP = { width: 1280, height: 860 };
const PHONE = { width: 390, height: 844 };
const SCREENSHOTS =
  process.env.UPDATE_SCREENSHOTS === '1'
    ? join(REPOSITORY_ROOT, 'docs', 'images')
    : mkdtempSync(join(tmpdir(), 'web-screenshots-'));
mkdirSync(SCREENSHOTS, { recursive: true });

/** Services with the descriptions a real deployment has: a language map, and a v1 plain text. */
const DESCRIBED_SERVICES = {
  'summarize/en': {
    type: 'summary',
    fields: 2,
    name: 'progressive',
    description: {
      en: 'English summary of a meeting transcript',
      fr: "Résumé en anglais d'une transcription de réunion",
    },
    flavor: [SMALL_FLAVOR],
  },
  'minutes/plain': {
    type: 'summary',
    fields: 1,
    name: 'map',
    description: 'Minutes, one line per turn',
    flavor: [SMALL_FLAVOR],
  },
};

/** Builds web/ into dist/web, where the gateway looks when it runs from its sources. */
function buildPage(): void {
  execFileSync(
    process.execPath,
    [join(REPOSITORY_ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', 'web', '--logLevel', 'error'],
    { cwd: REPOSITORY_ROOT, stdio: 'inherit' },
  );
}

interface PageProblems {
  messages: string[];
}

async function openPage(
  browser: Browser,
  url: string,
  options: { viewport: { width: number; height: number }; locale: string; isMobile?: boolean },
): Promise<{ context: BrowserContext; page: Page; problems: PageProblems }> {
  const context = await browser.newContext({
    viewport: options.viewport,
    locale: options.locale,
    isMobile: options.isMobile ?? false,
    hasTouch: options.isMobile ?? false,
    deviceScaleFactor: 1,
    acceptDownloads: true,
  });
  const page = await context.newPage();
  const problems: PageProblems = { messages: [] };
  page.on('pageerror', (error) => problems.messages.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.messages.push(`console: ${message.text()}`);
  });
  await page.goto(url);
  return { context, page, problems };
}

// In-page code is written as strings: this project's TypeScript has no DOM types (web/ has its own).

/** Drops `text` as a file on the drop zone, as a browser does when a file is dragged onto it. */
async function dropFile(page: Page, name: string, text: string): Promise<void> {
  const dataTransfer = await page.evaluateHandle(`(() => {
    const transfer = new DataTransfer();
    transfer.items.add(new File([${JSON.stringify(text)}], ${JSON.stringify(name)}, { type: 'text/plain' }));
    return transfer;
  })()`);
  await page.dispatchEvent('#drop-zone', 'dragover', { dataTransfer });
  await page.dispatchEvent('#drop-zone', 'drop', { dataTransfer });
  await dataTransfer.dispose();
}

interface JobView {
  status: string;
  statusText: string;
  summary: string;
}

/** The job section as the reader sees it, read at one instant. */
async function jobView(page: Page): Promise<JobView> {
  return await page.evaluate<JobView>(`({
    status: document.getElementById('job').dataset.status,
    statusText: document.getElementById('job-status').textContent,
    summary: document.getElementById('summary').textContent,
  })`);
}

/**
 * Waits until the job is running and its summary shows more than `lineCount` lines. Polled from
 * here: the page's Content-Security-Policy forbids the string evaluation of waitForFunction.
 */
async function waitForGrowingSummary(page: Page, lineCount: number): Promise<void> {
  await waitFor(
    async () => {
      const view = await jobView(page);
      return view.status === 'processing' && view.summary.split('\n').length > lineCount;
    },
    30_000,
    `more than ${String(lineCount)} summary lines while the job runs`,
  );
}

function jobIdOf(page: Page): string {
  return new URLSearchParams(new URL(page.url()).hash.slice(1)).get('job') ?? '';
}

describe('web page at / (headless Chromium)', () => {
  let browser: Browser;
  let simulator: LlmSimulator;
  let gateway: TestGateway;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} is missing: apt-get install chromium (.ci/run installs it)`);
    }
    buildPage();
    simulator = await new LlmSimulator({ latencyMs: 120 }).start();
    gateway = await startWorkerGateway(simulator);
    writeFileSync(
      join(gateway.root, '.hydra-conf/services/described.yaml'),
      JSON.stringify(DESCRIBED_SERVICES),
    );
    await waitFor(
      async () => (await (await fetch(`${gateway.baseUrl}/services`)).text()).includes('minutes/plain'),
      5_000,
      'the described services',
    );
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  }, 60_000);

  afterAll(async () => {
    await browser.close();
    await gateway.close();
    await simulator.stop();
    if (process.env.UPDATE_SCREENSHOTS !== '1') rmSync(SCREENSHOTS, { recursive: true, force: true });
  });

  it('serves the built page at / and its assets, public and cached by content hash', async () => {
    const page = await fetch(`${gateway.baseUrl}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toContain("connect-src 'self'");
    const html = await page.text();
    const script = /src="\.\/(assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const asset = await fetch(`${gateway.baseUrl}/${script ?? ''}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toContain('immutable');
    expect((await fetch(`${gateway.baseUrl}/assets/missing.js`)).status).toBe(404);
  });

  it('submits a dropped transcript, shows the summary growing line by line, then the final text to copy and download', async () => {
    const { context, page, problems } = await openPage(browser, `${gateway.baseUrl}/`, {
      viewport: DESKTOP,
      locale: 'en-US',
    });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: gateway.baseUrl });
    await page.locator('#service:enabled').waitFor();
    await page.selectOption('#service', 'summarize/en');
    await expect(page.textContent('#service-description')).resolves.toBe(
      'English summary of a meeting transcript',
    );
    await page.selectOption('#service', 'minutes/plain');
    await expect(page.textContent('#service-description')).resolves.toBe('Minutes, one line per turn');
    await page.selectOption('#service', 'summarize/en');
    await expect(page.locator('#flavor option').allTextContents()).resolves.toEqual(['small']);

    const transcript = readTranscript('ES2004a.txt');
    await dropFile(page, 'ES2004a.txt', transcript);
    await expect(page.textContent('#file-name')).resolves.toMatch(/^ES2004a\.txt \(\d+\.\d KB\)$/);
    await page.click('#submit');

    // Lines appear while the job is still running.
    await waitForGrowingSummary(page, 14);
    const midway = await jobView(page);
    expect(midway.status).toBe('processing');
    expect(midway.statusText).toMatch(/^Summarizing… \d+ %$/);
    await page.screenshot({ path: join(SCREENSHOTS, 'web-desktop.png') });

    await page.locator('#job[data-status="complete"]').waitFor({ timeout: 60_000 });
    const done = await jobView(page);
    expect(done.statusText).toBe('Done: the summary is complete.');
    const jobId = jobIdOf(page);
    const result = (await (await fetch(`${gateway.baseUrl}/results/${jobId}`)).json()) as {
      summarization: string;
    };
    expect(done.summary).toBe(result.summarization);
    expect(`${done.summary}\n`.startsWith(midway.summary)).toBe(true);
    expect(midway.summary.length).toBeLessThan(done.summary.length);

    await page.click('#copy');
    await page.locator('#job-status', { hasText: 'Copied to the clipboard.' }).waitFor();
    await expect(page.evaluate('navigator.clipboard.readText()')).resolves.toBe(result.summarization);

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    expect(download.suggestedFilename()).toBe('summarize-en-small-summary.txt');
    expect(readFileSync(await download.path(), 'utf8')).toBe(result.summarization);

    expect(problems.messages).toEqual([]);
    await context.close();
  }, 90_000);

  it('on a phone, in French: the French description, pasted text, and a running job cancelled from the keyboard', async () => {
    const { context, page, problems } = await openPage(browser, `${gateway.baseUrl}/`, {
      viewport: PHONE,
      locale: 'fr-FR',
      isMobile: true,
    });
    await page.locator('#service:enabled').waitFor();
    await page.selectOption('#service', 'summarize/en');
    await expect(page.textContent('#service-description')).resolves.toBe(
      "Résumé en anglais d'une transcription de réunion",
    );
    // Nothing is wider than the screen.
    await expect(page.evaluate('document.documentElement.scrollWidth')).resolves.toBeLessThanOrEqual(
      PHONE.width,
    );

    await page.fill('#text', readTranscript('ES2004a.txt'));
    await page.focus('#submit');
    await page.keyboard.press('Enter');
    await waitForGrowingSummary(page, 3);
    await page.evaluate("document.getElementById('job').scrollIntoView()");
    await page.screenshot({ path: join(SCREENSHOTS, 'web-phone.png') });

    await page.focus('#cancel');
    await page.keyboard.press('Enter');
    await page.locator('#job[data-status="error"]').waitFor({ timeout: 30_000 });
    await expect(page.textContent('#job-status')).resolves.toBe('Cancelled.');
    const result = (await (await fetch(`${gateway.baseUrl}/results/${jobIdOf(page)}`)).json()) as {
      status: string;
      details: string;
    };
    expect(result).toMatchObject({ status: 'error', details: 'cancelled' });
    await expect(page.isEnabled('#submit')).resolves.toBe(true);

    expect(problems.messages).toEqual([]);
    await context.close();
  }, 60_000);

  it('is usable by keyboard: every control in reading order, with a visible focus ring', async () => {
    const { context, page } = await openPage(browser, `${gateway.baseUrl}/`, {
      viewport: DESKTOP,
      locale: 'en-US',
    });
    await page.locator('#service:enabled').waitFor();
    const reached: { id: string; outline: string }[] = [];
    for (let press = 0; press < 7; press += 1) {
      await page.keyboard.press('Tab');
      reached.push(
        await page.evaluate<{ id: string; outline: string }>(`(() => {
          const active = document.activeElement;
          return {
            id: active.tagName.toLowerCase() + (active.id === '' ? '' : '#' + active.id),
            outline: getComputedStyle(active).outlineStyle,
          };
        })()`),
      );
    }
    expect(reached.map((entry) => entry.id)).toEqual([
      'a',
      'select#service',
      'select#flavor',
      'input#file',
      'textarea#text',
      'summary',
      'button#submit',
    ]);
    expect(reached.every((entry) => entry.outline === 'solid')).toBe(true);
    await context.close();
  });

  describe('a gateway with API_KEYS', () => {
    let keyed: TestGateway;
    beforeAll(async () => {
      keyed = await startTestGateway({ env: { API_KEYS: 'right-key' } });
    });
    afterAll(() => keyed.close());

    it('asks for a key, shows a wrong one refused in words, then works with the right one (HTTP and WebSocket)', async () => {
      const { context, page, problems } = await openPage(browser, `${keyed.baseUrl}/`, {
        viewport: DESKTOP,
        locale: 'en-US',
      });
      await page.locator('#key-section:visible').waitFor();
      await expect(page.textContent('#key-hint')).resolves.toBe('This gateway needs an API key.');
      await expect(page.evaluate('document.activeElement.id')).resolves.toBe('api-key');

      await page.fill('#api-key', 'wrong-key');
      await page.keyboard.press('Enter');
      await page.locator('#key-error:visible').waitFor();
      await expect(page.textContent('#key-error')).resolves.toBe('Invalid or missing API key (HTTP 401)');
      await expect(page.isDisabled('#service')).resolves.toBe(true);

      await page.fill('#api-key', 'right-key');
      await page.keyboard.press('Enter');
      await page.locator('#service:enabled').waitFor();
      await expect(page.isHidden('#key-error')).resolves.toBe(true);
      await expect(page.locator('#service option').allTextContents()).resolves.toContain('summarize/en');

      // The WebSocket takes the key as ?api_key=: this gateway has no worker, the job waits.
      await page.fill('#text', 'Alice : shall we start\nBob : yes, the budget first');
      await page.click('#submit');
      // `queued` is set with "Sending…" before the socket answers: wait for the socket's state.
      await page.locator('#job-status', { hasText: 'Waiting in the queue…' }).waitFor({ timeout: 10_000 });
      await expect(page.getAttribute('#job', 'data-status')).resolves.toBe('queued');

      // Kept for the session: a reload needs no key again.
      await page.reload();
      await page.locator('#service:enabled').waitFor();
      await expect(page.evaluate("sessionStorage.getItem('llm-gateway.api-key')")).resolves.toBe('right-key');

      // Chromium logs the refused /services requests as console errors; nothing else may fail.
      expect(problems.messages.filter((message) => !/status of 401/.test(message))).toEqual([]);
      await context.close();
    });
  });
});
