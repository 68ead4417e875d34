// llama2.c checkpoints and their tok*.bin tokenizer.
export { findLlama2cTokenizer, llama2cModelConfig, loadLlama2cModel, type Llama2cLoadOptions } from "./load-llama2c-model.js";
export {
  llama2cMagic,
  parseLlama2cHeader,
  parseLlama2cLayout,
  type Llama2cHeader,
  type Llama2cLayout,
  type Llama2cSegment,
  type Llama2cSegmentKind,
} from "./llama2c-header.js";
export {
  Llama2cTokenizer,
  parseLlama2cTokenizer,
  readLlama2cTokenizer,
  type Llama2cVocabulary,
} from "../tokenizers/llama2c-tokenizer.js";
