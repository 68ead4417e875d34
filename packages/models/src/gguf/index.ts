// GGUF support: the bounds-checked reader, the llama model loader, dequantization and the writer.
export { loadGgufModel, type LoadGgufOptions } from "./load-gguf-model.js";
export {
  ggufDefaultAlignment,
  readGgufHeader,
  type GgufHeader,
  type GgufKeyInfo,
  type GgufTensorInfo,
} from "./gguf-header.js";
export { GgufMetadata, readGgufMetadata, type GgufMetadataEntry } from "./gguf-metadata.js";
export { checkGgufArchitecture, ggufModelConfig, type GgufConfigInputs } from "./gguf-config.js";
export { ropeFrequencyTensorName, ropeScalingFromFactors } from "./gguf-rope-scaling.js";
export { planGgufWeights, readGgufTensor, readGgufWeights } from "./gguf-weights.js";
export { dequantizableGgmlTypeNames, dequantizeGgml, isDequantizableGgmlType } from "./dequantize.js";
export { GgmlType, ggmlTypeByName, ggmlTypeInfo, ggmlTypeLabel, type GgmlTypeInfo, type GgmlTypeName } from "./ggml-type.js";
export {
  encodeGguf,
  writeGguf,
  type GgufLayout,
  type GgufWriterInput,
  type GgufWriterTensor,
  type GgufWriterValue,
} from "./write-gguf.js";
export { GGUFValueType as GgufValueType } from "@huggingface/gguf";
export {
  createGgufTokenizer,
  GgufTokenizer,
  loadGgufTokenizer,
} from "../tokenizers/gguf-tokenizer.js";
export { GgufTokenType, readGgufVocabulary, type GgufVocabulary } from "../tokenizers/gguf-vocabulary.js";
export { sentencePieceMerges, supportedGgufPreTokenizers } from "../tokenizers/gguf-tokenizer-json.js";
