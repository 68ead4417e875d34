// Hugging Face model folders (config.json, safetensors, tokenizer.json) and their tokenizer.
export { loadHuggingFaceModel, type HuggingFaceLoadOptions } from "./load-huggingface-model.js";
export {
  parseHuggingFaceConfig,
  parseRopeScaling,
  supportedHuggingFaceArchitectures,
  type HuggingFaceConfig,
} from "./huggingface-config.js";
export { locateSafetensorsFiles, readHuggingFaceWeights, type HuggingFaceWeights } from "./huggingface-weights.js";
export {
  HuggingFaceTokenizer,
  loadHuggingFaceTokenizer,
  type HuggingFaceTokenizerOptions,
} from "../tokenizers/hugging-face-tokenizer.js";
export { ChatTemplate, selectChatTemplate, type ChatTemplateTokens } from "../tokenizers/chat-template.js";
