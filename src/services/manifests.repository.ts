import { readFile, readdir, stat } from 'node:fs/promises';
import { isAbsolute, join, relative } from 'node:path';
import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { type FSWatcher, watch } from 'chokidar';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { ConfigError } from '../config/config.error';
import { readConfigYaml } from '../config/load-app-config';
import { ServicesRegistry } from './services-registry.service';

/** Quiet time after the last file event before the folder is rescanned. */
const RESCAN_DEBOUNCE_MS = 150;
/** How often the folders are rescanned when they cannot be watched. */
const POLL_INTERVAL_MS = 1_000;
const MANIFEST_FILE = /^[^.].*\.ya?ml$/i;

/**
 * Reads `.hydra-conf/services/*.yaml` at start-up and watches the folder, `config.yaml` and the
 * prompts folder (a manifest is checked against its prompt files, which may arrive after it). Any
 * event triggers a debounced rescan that applies changed and deleted files to the registry, one
 * at a time. A rescan (rather than per-event handling) also covers editors' atomic saves and
 * Kubernetes ConfigMap symlink swaps. A changed `config.yaml` re-ranks the files (its
 * `defaults:` list) and re-applies every manifest, since node references may point into it.
 */
@Injectable()
export class ManifestsRepository implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(ManifestsRepository.name);
  private readonly lastSeenText = new Map<string, string>();
  private lastSeenConfigText: string | undefined;
  private watcher: FSWatcher | undefined;
  private debounceTimer: NodeJS.Timeout | undefined;
  /** Set when watching fails: changes are then found by rescanning on a timer. */
  private pollTimer: NodeJS.Timeout | undefined;
  private rescanChain: Promise<void> = Promise.resolve();
  private isClosed = false;
  /** A prompt file changed since the last rescan: every manifest is checked again. */
  private havePromptsChanged = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly registry: ServicesRegistry,
  ) {}

  async onModuleInit(): Promise<void> {
    const isFolder = await stat(this.config.servicesPath).then(
      (stats) => stats.isDirectory(),
      () => false,
    );
    if (!isFolder) {
      // Watching a missing folder would silently serve nothing forever: refuse to start instead.
      throw new ConfigError(
        `CONFIG_PATH: the manifests folder ${relative(process.cwd(), this.config.servicesPath)} does not exist`,
        'INVALID_CONFIG_FIELD',
      );
    }
    this.lastSeenConfigText = await readFile(this.config.configFile, 'utf8').catch(() => undefined);
    await this.rescan();
    if (this.registry.list().length === 0) {
      this.logger.warn(`No service loaded from ${this.folderLabel()}`);
    }
    // Folders only, and only those that exist: chokidar handles a missing path by watching its
    // parent, and its 'ready' could then come before the other folders were watched (a file
    // written right after start-up was missed). The config folder covers config.yaml, a
    // ConfigMap's symlink swap included.
    const folders = [this.config.configPath, this.config.servicesPath, this.config.promptsPath];
    const existing = await Promise.all(
      folders.map((folder) =>
        stat(folder).then(
          (stats) => stats.isDirectory(),
          () => false,
        ),
      ),
    );
    const watcher = watch(
      folders.filter((_, index) => existing[index]),
      { ignoreInitial: true, depth: 0 },
    );
    this.watcher = watcher;
    watcher.on('all', (_event, path) => {
      if (isInside(this.config.promptsPath, path)) this.havePromptsChanged = true;
      this.scheduleRescan();
    });
    watcher.on('error', (error: unknown) => {
      // Out of inotify watches, a network file system...: fall back to rescanning on a timer.
      if (this.pollTimer) return;
      this.logger.error(
        `Watching ${this.folderLabel()} failed (${String(error)}); rescanning every ${POLL_INTERVAL_MS / 1000} s instead`,
      );
      this.pollTimer = setInterval(() => this.scheduleRescan(), POLL_INTERVAL_MS);
      this.pollTimer.unref();
    });
    await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
    // A file saved between the first scan and the watcher being ready would be missed otherwise.
    await this.rescan();
  }

  async onModuleDestroy(): Promise<void> {
    this.isClosed = true;
    clearTimeout(this.debounceTimer);
    clearInterval(this.pollTimer);
    await this.watcher?.close();
    await this.rescanChain;
  }

  /** Resolves once every change seen so far has been applied. */
  whenIdle(): Promise<void> {
    return this.rescanChain;
  }

  private scheduleRescan(): void {
    clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => {
      this.rescanChain = this.rescanChain.then(() => this.rescan());
    }, RESCAN_DEBOUNCE_MS);
  }

  private async rescan(): Promise<void> {
    if (this.isClosed) return;
    try {
      await this.reloadConfigYamlIfChanged();
      if (this.havePromptsChanged) {
        // A prompt written late serves the manifest that waited for it; a prompt deleted under a
        // served manifest is reported now (its last good version keeps serving).
        this.havePromptsChanged = false;
        this.lastSeenText.clear();
      }
      const files = await this.listManifestFiles();
      for (const [label, path] of files) {
        const text = await readFile(path, 'utf8').catch(() => undefined);
        if (text === undefined || this.lastSeenText.get(label) === text) continue;
        this.lastSeenText.set(label, text);
        await this.registry.applyFile(label, text);
      }
      for (const label of [...this.lastSeenText.keys()]) {
        if (!files.has(label)) {
          this.lastSeenText.delete(label);
          this.registry.removeFile(label);
        }
      }
    } catch (error) {
      this.logger.error(`Reading ${this.folderLabel()} failed: ${String(error)}`);
    }
  }

  /** A changed config.yaml: new precedence, and every manifest applied again. */
  private async reloadConfigYamlIfChanged(): Promise<void> {
    const text = await readFile(this.config.configFile, 'utf8').catch(() => undefined);
    if (text === this.lastSeenConfigText) return;
    this.lastSeenConfigText = text;
    const label = relative(process.cwd(), this.config.configFile) || this.config.configFile;
    let configYaml: unknown;
    try {
      configYaml = readConfigYaml(this.config.configFile, label) ?? {};
    } catch (error) {
      this.logger.error(
        `${String(error instanceof Error ? error.message : error)} (the previous version keeps applying)`,
      );
      return;
    }
    this.logger.log(
      `${label} changed: its defaults: list and references apply now; other settings at the next restart`,
    );
    this.registry.setConfigYaml(configYaml);
    this.lastSeenText.clear();
  }

  /** Manifest files by label (`services/en.yaml`), skipping hidden entries and folders. */
  private async listManifestFiles(): Promise<Map<string, string>> {
    const names = await readdir(this.config.servicesPath).catch(() => [] as string[]);
    const files = new Map<string, string>();
    for (const name of names.filter((candidate) => MANIFEST_FILE.test(candidate)).sort()) {
      const path = join(this.config.servicesPath, name);
      const isFile = await stat(path).then(
        (stats) => stats.isFile(),
        () => false,
      );
      if (isFile) files.set(relative(this.config.configPath, path), path);
    }
    return files;
  }

  private folderLabel(): string {
    return relative(this.config.configPath, this.config.servicesPath) || this.config.servicesPath;
  }
}

/** Whether `path` is `folder` or inside it (chokidar reports the watched folder's own events too). */
function isInside(folder: string, path: string): boolean {
  const fromFolder = relative(folder, path);
  return fromFolder === '' || (!fromFolder.startsWith('..') && !isAbsolute(fromFolder));
}
