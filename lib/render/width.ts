/**
 * How many columns a terminal gives a text, so that tables line up when names and paths hold
 * CJK, emoji or combining marks. Printable ASCII, nearly every cell, is counted by its length;
 * other text is split into grapheme clusters (what a terminal draws as one character), and each
 * counts 2 when it is an emoji or East Asian wide, 0 when it is a lone mark or an invisible
 * format character, else 1.
 */

import { isEastAsianWide } from "./east_asian_width.ts";

/** Nearly every cell: counted by its length. */
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/**
 * An emoji shown as a picture: one with emoji presentation by default (a flag's regional
 * indicators count too), or any emoji asked for as a picture (U+FE0F) or a keycap (U+20E3).
 */
const EMOJI = /^(?:\p{Emoji_Presentation}|\p{Emoji}\p{Emoji_Modifier}?[\uFE0F\u20E3])/u;

/** Takes no column of its own: marks, format characters (zero-width joiner, direction marks),
 * controls, and the Hangul vowels and finals that join the syllable before them. */
const ZERO_WIDTH = /^[\p{Mn}\p{Me}\p{Cf}\p{Cc}\u1160-\u11ff\ud7b0-\ud7ff]/u;

let graphemes: Intl.Segmenter | undefined;

/** The number of terminal columns `text` takes. */
export function displayWidth(text: string): number {
  if (PRINTABLE_ASCII.test(text)) return text.length;
  graphemes ??= new Intl.Segmenter(undefined, { granularity: "grapheme" });
  let width = 0;
  for (const { segment } of graphemes.segment(text)) width += clusterWidth(segment);
  return width;
}

/** The columns of one grapheme cluster, judged by its first code point and its emoji form. */
function clusterWidth(cluster: string): number {
  if (EMOJI.test(cluster)) return 2;
  // The soft hyphen is a format character that terminals nevertheless show.
  if (ZERO_WIDTH.test(cluster) && cluster[0] !== "\u00ad") return 0;
  return isEastAsianWide(cluster.codePointAt(0)!) ? 2 : 1;
}
