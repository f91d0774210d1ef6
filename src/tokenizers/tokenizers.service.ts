import { Injectable, Logger } from '@nestjs/common';
import type { Tokenizer } from './tokenizer';
import { TOKENIZER_LOADERS } from './tokenizer-loaders';
import { resolveTokenizer, type TokenizerFamily } from './tokenizer-resolution.util';

/** Hands out one shared Tokenizer per vocabulary, loaded on first use. */
@Injectable()
export class TokenizersService {
  private readonly loaded = new Map<TokenizerFamily, Tokenizer>();
  private readonly reportedFlavors = new Set<string>();
  private readonly logger = new Logger(TokenizersService.name);

  /**
   * The tokenizer of a flavor. Logs once per flavor which vocabulary it resolved to, and warns
   * once per service when `tokenizerClass` is unknown (docs/api.md 6.1).
   */
  forFlavor(
    serviceRoute: string,
    flavor: { name: string; tokenizerClass: string; modelName: string },
  ): Tokenizer {
    const resolution = resolveTokenizer(flavor.tokenizerClass, flavor.modelName);
    const flavorKey = `${serviceRoute}#${flavor.name}`;
    if (!this.reportedFlavors.has(flavorKey)) {
      this.reportedFlavors.add(flavorKey);
      if (resolution.isFallback && !this.reportedFlavors.has(`${serviceRoute}#fallback`)) {
        this.reportedFlavors.add(`${serviceRoute}#fallback`);
        this.logger.warn(
          `Service ${serviceRoute}: unknown tokenizerClass "${flavor.tokenizerClass}", counting tokens with cl100k_base`,
        );
      }
      this.logger.log(
        `Service ${serviceRoute}, flavor ${flavor.name}: tokenizerClass "${flavor.tokenizerClass}" with model "${flavor.modelName}" counts with ${resolution.family}`,
      );
    }
    return this.family(resolution.family);
  }

  family(family: TokenizerFamily): Tokenizer {
    let tokenizer = this.loaded.get(family);
    if (!tokenizer) {
      const startedAt = performance.now();
      tokenizer = TOKENIZER_LOADERS[family]();
      this.loaded.set(family, tokenizer);
      this.logger.log(`Vocabulary ${family} loaded in ${Math.round(performance.now() - startedAt)} ms`);
    }
    return tokenizer;
  }

  /** The vocabularies loaded so far. */
  loadedFamilies(): TokenizerFamily[] {
    return [...this.loaded.keys()];
  }

  /**
   * Loads the vocabulary of every flavor given that is not loaded yet (a worker calls it at
   * start-up and when manifests change, so that no job waits for a load). Returns the
   * vocabularies those flavors use.
   */
  preload(flavors: readonly { tokenizerClass: string; modelName: string }[]): TokenizerFamily[] {
    const families = [
      ...new Set(flavors.map((flavor) => resolveTokenizer(flavor.tokenizerClass, flavor.modelName).family)),
    ];
    families.forEach((family) => this.family(family));
    return families;
  }
}
