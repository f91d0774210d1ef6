// The page at `/`: pick a service and flavor, give a text, follow the job as the summary grows.
import { describeIn } from './descriptions.util';
import {
  createGatewayClient,
  GatewayHttpError,
  type GatewayClient,
  type JobMessage,
  type Service,
} from '../../clients/typescript/src';

const KEY_STORAGE = 'llm-gateway.api-key';
const SERVICE_STORAGE = 'llm-gateway.service';

function element<T extends HTMLElement>(id: string, type: new () => T): T {
  const found = document.getElementById(id);
  if (!(found instanceof type)) throw new Error(`the page has no #${id}`);
  return found;
}

const ui = {
  keySection: element('key-section', HTMLElement),
  keyForm: element('key-form', HTMLFormElement),
  keyHint: element('key-hint', HTMLParagraphElement),
  keyInput: element('api-key', HTMLInputElement),
  rememberKey: element('remember-key', HTMLInputElement),
  keyError: element('key-error', HTMLParagraphElement),
  jobForm: element('job-form', HTMLFormElement),
  service: element('service', HTMLSelectElement),
  serviceDescription: element('service-description', HTMLParagraphElement),
  flavor: element('flavor', HTMLSelectElement),
  dropZone: element('drop-zone', HTMLDivElement),
  file: element('file', HTMLInputElement),
  fileChosen: element('file-chosen', HTMLParagraphElement),
  fileName: element('file-name', HTMLSpanElement),
  fileRemove: element('file-remove', HTMLButtonElement),
  text: element('text', HTMLTextAreaElement),
  temperature: element('temperature', HTMLInputElement),
  topP: element('top-p', HTMLInputElement),
  submit: element('submit', HTMLButtonElement),
  formError: element('form-error', HTMLParagraphElement),
  job: element('job', HTMLElement),
  jobStatus: element('job-status', HTMLParagraphElement),
  progress: element('job-progress', HTMLProgressElement),
  cancel: element('cancel', HTMLButtonElement),
  copy: element('copy', HTMLButtonElement),
  download: element('download', HTMLButtonElement),
  summary: element('summary', HTMLPreElement),
};

const baseUrl = new URL('.', window.location.href).href;
let apiKey = localStorage.getItem(KEY_STORAGE) ?? sessionStorage.getItem(KEY_STORAGE) ?? '';
let client: GatewayClient = connect();
let services: Service[] = [];
let chosenFile: File | undefined;
let runningJobId: string | undefined;
let finishedSummary = '';
let downloadName = 'summary.txt';

/** A client of the gateway that served this page, with the key when there is one. */
function connect(): GatewayClient {
  return createGatewayClient({ baseUrl, apiKey: apiKey === '' ? undefined : apiKey });
}

function show(target: HTMLElement, text: string): void {
  target.textContent = text;
  target.hidden = text === '';
}

/** The gateway's own words (`{"detail": ...}`) when it answered; else why it could not be reached. */
function describeError(error: unknown): string {
  if (error instanceof GatewayHttpError) return error.detail;
  return error instanceof Error ? error.message : String(error);
}

function isKeyRefused(error: unknown): error is GatewayHttpError {
  return error instanceof GatewayHttpError && error.status === 401;
}

// --- API key ---

function askForKey(error: GatewayHttpError): void {
  ui.keySection.hidden = false;
  show(ui.keyError, apiKey === '' ? '' : `${error.detail} (HTTP ${String(error.status)})`);
  ui.keyHint.textContent =
    apiKey === '' ? 'This gateway needs an API key.' : 'The gateway refused this key: enter another one.';
  ui.keyInput.focus();
}

ui.keyForm.addEventListener('submit', (event) => {
  event.preventDefault();
  apiKey = ui.keyInput.value.trim();
  localStorage.removeItem(KEY_STORAGE);
  sessionStorage.removeItem(KEY_STORAGE);
  (ui.rememberKey.checked ? localStorage : sessionStorage).setItem(KEY_STORAGE, apiKey);
  client = connect();
  void loadServices();
});

// --- services and flavors ---

async function loadServices(): Promise<void> {
  try {
    services = await client.listServices();
  } catch (error) {
    services = [];
    fillServices(isKeyRefused(error) ? 'Needs an API key' : 'Services could not be loaded');
    if (isKeyRefused(error)) {
      askForKey(error);
    } else {
      show(ui.formError, describeError(error));
    }
    return;
  }
  show(ui.keyError, '');
  show(ui.formError, services.length === 0 ? 'This gateway has no services loaded.' : '');
  if (apiKey !== '') {
    ui.keyInput.value = apiKey;
    ui.keyHint.textContent = 'Key accepted.';
  }
  fillServices();
  resumeFromAddress();
}

function fillServices(emptyText = 'No services available'): void {
  const remembered = localStorage.getItem(SERVICE_STORAGE);
  ui.service.replaceChildren(
    ...services.map(
      (service) => new Option(service.route, service.route, false, service.route === remembered),
    ),
  );
  if (services.length === 0) ui.service.append(new Option(emptyText, ''));
  ui.service.disabled = services.length === 0;
  ui.submit.disabled = services.length === 0 || runningJobId !== undefined;
  fillFlavors();
}

function selectedService(): Service | undefined {
  return services.find((service) => service.route === ui.service.value);
}

function fillFlavors(): void {
  const service = selectedService();
  ui.serviceDescription.textContent = describeIn(service?.description, navigator.language);
  const flavors = service?.flavor ?? [];
  ui.flavor.replaceChildren(...flavors.map((flavor) => new Option(flavor.name, flavor.name)));
  ui.flavor.disabled = flavors.length === 0;
}

ui.service.addEventListener('change', () => {
  localStorage.setItem(SERVICE_STORAGE, ui.service.value);
  fillFlavors();
});

// --- the text: a dropped or chosen file, or pasted text ---

function useFile(file: File | undefined): void {
  chosenFile = file;
  ui.fileChosen.hidden = file === undefined;
  ui.fileName.textContent = file === undefined ? '' : `${file.name} (${formatSize(file.size)})`;
  ui.text.disabled = file !== undefined;
  if (file === undefined) ui.file.value = '';
  show(ui.formError, '');
}

function formatSize(bytes: number): string {
  return bytes < 1024 ? `${String(bytes)} bytes` : `${(bytes / 1024).toFixed(1)} KB`;
}

ui.file.addEventListener('change', () => useFile(ui.file.files?.[0]));
ui.fileRemove.addEventListener('click', () => {
  useFile(undefined);
  ui.file.focus();
});
ui.dropZone.addEventListener('dragover', (event) => {
  event.preventDefault();
  ui.dropZone.classList.add('is-dragging');
});
ui.dropZone.addEventListener('dragleave', () => ui.dropZone.classList.remove('is-dragging'));
ui.dropZone.addEventListener('drop', (event) => {
  event.preventDefault();
  ui.dropZone.classList.remove('is-dragging');
  const files = event.dataTransfer?.files;
  const file = files?.[0];
  if (files === undefined || file === undefined) return;
  ui.file.files = files; // the input names the dropped file, as if it had been chosen
  useFile(file);
});

// --- submit and follow ---

function numberField(input: HTMLInputElement): number | undefined {
  return input.value.trim() === '' ? undefined : Number(input.value);
}

ui.jobForm.addEventListener('submit', (event) => {
  event.preventDefault();
  void submitJob();
});

async function submitJob(): Promise<void> {
  const service = selectedService();
  if (service === undefined || runningJobId !== undefined) return;
  const text = ui.text.value;
  if (chosenFile === undefined && text.trim() === '') {
    show(ui.formError, 'Drop or choose a file, or paste some text.');
    ui.text.focus();
    return;
  }
  show(ui.formError, '');
  ui.submit.disabled = true;
  ui.submit.textContent = 'Sending…';
  let jobId: string;
  try {
    ({ jobId } = await client.submit({
      route: service.route,
      flavor: ui.flavor.value,
      ...(chosenFile === undefined ? { text } : { file: chosenFile }),
      temperature: numberField(ui.temperature),
      top_p: numberField(ui.topP),
    }));
  } catch (error) {
    if (isKeyRefused(error)) askForKey(error);
    show(ui.formError, describeError(error));
    ui.submit.disabled = services.length === 0;
    return;
  } finally {
    ui.submit.textContent = 'Summarize';
  }
  downloadName = `${service.route.replaceAll('/', '-')}-${ui.flavor.value}-summary.txt`;
  history.replaceState(null, '', `#job=${encodeURIComponent(jobId)}`);
  await follow(jobId);
}

/** A job named in the address (`#job=<id>`), e.g. after a reload: follow it again. */
function resumeFromAddress(): void {
  const jobId = new URLSearchParams(window.location.hash.slice(1)).get('job');
  if (jobId === null || jobId === '' || runningJobId !== undefined) return;
  downloadName = `summary-${jobId}.txt`;
  void follow(jobId);
}

async function follow(jobId: string): Promise<void> {
  runningJobId = jobId;
  finishedSummary = '';
  ui.summary.textContent = '';
  ui.submit.disabled = true;
  ui.cancel.disabled = false;
  ui.copy.disabled = true;
  ui.download.disabled = true;
  ui.summary.setAttribute('aria-busy', 'true');
  setStatus('queued', 'Sending…');
  try {
    for await (const state of client.followJob(jobId, { partial: true })) render(state);
  } catch (error) {
    setStatus('error', `Lost track of the job: ${describeError(error)}`);
    show(ui.formError, describeError(error));
  } finally {
    runningJobId = undefined;
    ui.cancel.disabled = true;
    ui.summary.setAttribute('aria-busy', 'false');
    ui.submit.disabled = services.length === 0;
  }
}

function setStatus(status: string, text: string, percent?: number): void {
  ui.job.dataset.status = status;
  ui.jobStatus.textContent = text;
  ui.progress.hidden = status === 'idle' || status === 'error' || status === 'unknown';
  if (percent === undefined) ui.progress.removeAttribute('value');
  else ui.progress.value = percent;
}

function render(state: JobMessage): void {
  switch (state.status) {
    case 'queued':
      setStatus(state.status, 'Waiting in the queue…');
      return;
    case 'started':
      setStatus(state.status, 'Started: reading the text…');
      return;
    case 'processing': {
      const percent = Number(state.progress);
      setStatus(state.status, `Summarizing… ${String(percent)} %`, percent);
      if (state.partial !== undefined && state.partial !== '') appendLines(state.partial);
      return;
    }
    case 'complete':
      finishedSummary = state.summarization;
      ui.summary.textContent = state.summarization;
      setStatus(state.status, 'Done: the summary is complete.', 100);
      ui.copy.disabled = false;
      ui.download.disabled = false;
      return;
    case 'error':
      if (state.details === 'cancelled') setStatus(state.status, 'Cancelled.');
      else setStatus(state.status, `The job failed: ${state.details}`);
      return;
    case 'unknown':
      setStatus(state.status, 'This job does not exist (finished jobs are kept for a limited time).');
      return;
    default: {
      const never: never = state;
      throw new Error(`unexpected state ${JSON.stringify(never)}`);
    }
  }
}

/** Appends new summary lines, following them down unless the reader has scrolled up. */
function appendLines(lines: string): void {
  const box = ui.summary;
  const isAtBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 24;
  box.append(document.createTextNode(lines));
  if (isAtBottom) box.scrollTop = box.scrollHeight;
}

ui.cancel.addEventListener('click', () => {
  const jobId = runningJobId;
  if (jobId === undefined) return;
  ui.cancel.disabled = true;
  setStatus(ui.job.dataset.status ?? 'processing', 'Cancelling…', ui.progress.value);
  client.cancel(jobId).catch((error: unknown) => {
    ui.cancel.disabled = false;
    show(ui.formError, describeError(error));
  });
});

// --- copy and download ---

ui.copy.addEventListener('click', () => {
  void copySummary().then((isCopied) => {
    ui.jobStatus.textContent = isCopied
      ? 'Copied to the clipboard.'
      : 'Could not copy: select the text instead.';
  });
});

async function copySummary(): Promise<boolean> {
  // navigator.clipboard exists only on https and localhost; a gateway on plain http elsewhere is common.
  if (window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(finishedSummary);
      return true;
    } catch {
      // fall back to a selection below
    }
  }
  const selection = window.getSelection();
  selection?.selectAllChildren(ui.summary);
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- the only copy without a secure context
  const isCopied = document.execCommand('copy');
  selection?.removeAllRanges();
  return isCopied;
}

ui.download.addEventListener('click', () => {
  const link = document.createElement('a');
  link.href = URL.createObjectURL(new Blob([finishedSummary], { type: 'text/plain;charset=utf-8' }));
  link.download = downloadName;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
});

void loadServices();
