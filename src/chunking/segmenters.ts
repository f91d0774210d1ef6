type Granularity = 'grapheme' | 'word' | 'sentence';

/** ICU segmenters are costly to build and stateless to use: one per granularity and locale. */
const segmenters = new Map<string, Intl.Segmenter>();

/**
 * The shared `Intl.Segmenter` of a granularity and locale. Without a locale, ICU's default rules
 * (which already know `。！？` and the Devanagari, Arabic and other full stops, and segment
 * Chinese, Japanese and Thai words by dictionary, whatever the locale).
 */
export function segmenterFor(granularity: Granularity, locale?: string): Intl.Segmenter {
  const key = `${granularity}:${locale ?? ''}`;
  let segmenter = segmenters.get(key);
  if (!segmenter) {
    segmenter = new Intl.Segmenter(locale, { granularity });
    segmenters.set(key, segmenter);
  }
  return segmenter;
}
