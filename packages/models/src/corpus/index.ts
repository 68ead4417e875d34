// Text corpora for perplexity and calibration: the State of the Union addresses and plain UTF-8 files.
export {
  loadTextSource,
  sotuAddressSeparator,
  truncateText,
  type TextSource,
  type TextSourceOptions,
} from "./load-text-source.js";
export { loadSotuAddresses, sotuYearRange, type SotuAddress } from "./sotu-corpus.js";
