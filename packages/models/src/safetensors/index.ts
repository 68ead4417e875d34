// Safetensors reading and writing, plus the bounds-checked file reads other loaders share.
export {
  isSupportedSafetensorsDtype,
  maxSafetensorsHeaderBytes,
  parseSafetensorsHeader,
  parseSafetensorsHeaderLength,
  supportedSafetensorsDtypes,
  type SafetensorsDtype,
  type SafetensorsHeader,
  type SafetensorsTensorInfo,
} from "./safetensors-header.js";
export {
  readSafetensors,
  readSafetensorsHeader,
  SafetensorsReader,
  type SafetensorsFile,
  type SafetensorsTensor,
} from "./read-safetensors.js";
export { writeSafetensors, type SafetensorsWriteOptions } from "./write-safetensors.js";
export { decodeTensorBytes } from "./tensor-decoding.js";
