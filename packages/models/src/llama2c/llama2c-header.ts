// The llama2.c checkpoint header (legacy version 0 and versioned exports) and the byte layout of the
// float32 tensors it implies. Sizes are computed in BigInt and compared with the real file size before
// any tensor is read, so a wrong header never drives a read or an allocation.
import { CorruptFileError, UnsupportedVersionError } from "@elitekv/core";

/** "ak42" read as a little-endian uint32: the first field of versioned llama2.c exports. */
export const llama2cMagic = 0x616b3432;
/** Versioned exports pad their header with zeros to this many bytes. */
export const llama2cVersionedHeaderBytes = 256;
/** Seven int32 config fields: the whole version 0 header. */
export const llama2cLegacyHeaderBytes = 28;

export interface Llama2cHeader {
  /** 0 for the legacy header without magic, else the version after the magic. */
  version: number;
  dim: number;
  hiddenDim: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  vocabSize: number;
  seqLen: number;
  /** True when the output head reuses the token embedding (no separate wcls). */
  sharedClassifier: boolean;
  headSize: number;
  kvDim: number;
}

export type Llama2cSegmentKind =
  | "token_embedding"
  | "attention_norm"
  | "wq"
  | "wk"
  | "wv"
  | "wo"
  | "ffn_norm"
  | "w1"
  | "w2"
  | "w3"
  | "final_norm"
  | "freq_cis_real"
  | "freq_cis_imag"
  | "output_head";

/** One tensor, or one tensor per layer stored back to back. */
export interface Llama2cSegment {
  kind: Llama2cSegmentKind;
  /** Shape of one item ([out, in] for linear layers). */
  shape: number[];
  /** numLayers for per-layer tensors, else 1. */
  items: number;
  /** Byte offset of the first item in the file. */
  offset: number;
  /** Bytes of all items together. */
  byteLength: number;
}

export interface Llama2cLayout {
  header: Llama2cHeader;
  segments: Llama2cSegment[];
  /** False for a version 0 file written without the unused freq_cis tables. */
  hasFreqCisTables: boolean;
  fileSize: number;
}

interface SegmentPlan {
  kind: Llama2cSegmentKind;
  shape: bigint[];
  items: bigint;
}

/**
 * Parses the header from the first bytes of a file (at least 28, up to 256) and returns the tensor
 * layout that matches `fileSize` exactly. Throws UnsupportedVersionError for version 2 (int8) and
 * unknown versions, CorruptFileError for implausible fields or a size that matches no layout.
 */
export function parseLlama2cLayout(bytes: Uint8Array, fileSize: number, file: string): Llama2cLayout {
  const header = parseLlama2cHeader(bytes, fileSize, file);
  const headerBytes = header.version === 0 ? llama2cLegacyHeaderBytes : llama2cVersionedHeaderBytes;

  const candidates: Array<{ plans: SegmentPlan[]; hasFreqCisTables: boolean }> =
    header.version === 0
      ? [
          { plans: legacyPlan(header, true), hasFreqCisTables: true },
          { plans: legacyPlan(header, false), hasFreqCisTables: false },
        ]
      : [{ plans: versionOnePlan(header), hasFreqCisTables: false }];

  const expectedSizes: bigint[] = [];
  for (const candidate of candidates) {
    const total = BigInt(headerBytes) + candidate.plans.reduce((sum, plan) => sum + planBytes(plan), 0n);
    expectedSizes.push(total);
    if (total === BigInt(fileSize)) {
      return {
        header,
        segments: placeSegments(candidate.plans, headerBytes),
        hasFreqCisTables: candidate.hasFreqCisTables,
        fileSize,
      };
    }
  }

  const expected =
    expectedSizes.length === 1
      ? `${expectedSizes[0]} bytes`
      : `${expectedSizes[0]} bytes (with the freq_cis tables) or ${expectedSizes[1]} bytes (without them)`;
  throw new CorruptFileError(
    `the header (${describeHeader(header)}) implies a file of ${expected}, but the file has ${fileSize} bytes; ` +
      "the file is truncated, has trailing data, or is not a float32 llama2.c checkpoint",
    { file, field: "header" },
  );
}

/** Parses and checks the header fields, without looking at the tensor layout. */
export function parseLlama2cHeader(bytes: Uint8Array, fileSize: number, file: string): Llama2cHeader {
  if (bytes.byteLength < llama2cLegacyHeaderBytes || fileSize < llama2cLegacyHeaderBytes) {
    throw new CorruptFileError(
      `file has ${fileSize} bytes, shorter than the ${llama2cLegacyHeaderBytes}-byte llama2.c header`,
      { file, field: "header" },
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

  if (view.getUint32(0, true) !== llama2cMagic) {
    const fields = readConfigInts(view, 0);
    const vocab = fields[5];
    return checkedHeader(0, fields, vocab > 0, file);
  }

  if (bytes.byteLength < 8) {
    throw new CorruptFileError("file ends before the version field", { file, field: "version" });
  }
  const version = view.getInt32(4, true);
  if (version === 2) {
    throw new UnsupportedVersionError(
      "llama2.c version 2 (int8 quantized, Q8_0 groups) is not supported; export the model with version 0 or 1 (float32)",
      { file, field: "version" },
    );
  }
  if (version !== 1) {
    throw new UnsupportedVersionError(
      `unknown llama2.c export version ${version}; only versions 0 (legacy header) and 1 are supported`,
      { file, field: "version" },
    );
  }
  if (bytes.byteLength < llama2cVersionedHeaderBytes || fileSize < llama2cVersionedHeaderBytes) {
    throw new CorruptFileError(
      `file has ${fileSize} bytes, shorter than the ${llama2cVersionedHeaderBytes}-byte version 1 header`,
      { file, field: "header" },
    );
  }
  const fields = readConfigInts(view, 8);
  const sharedByte = view.getUint8(36);
  if (sharedByte > 1) {
    throw new CorruptFileError(`shared_classifier must be 0 or 1, got ${sharedByte}`, { file, field: "shared_classifier" });
  }
  if (fields[5] <= 0) {
    throw new CorruptFileError(`vocab_size must be positive in a version 1 header, got ${fields[5]}`, {
      file,
      field: "vocab_size",
    });
  }
  return checkedHeader(version, fields, sharedByte === 1, file);
}

function readConfigInts(view: DataView, offset: number): number[] {
  const fields: number[] = [];
  for (let k = 0; k < 7; k++) fields.push(view.getInt32(offset + 4 * k, true));
  return fields;
}

const fieldNames = ["dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"];

function checkedHeader(version: number, fields: number[], sharedClassifier: boolean, file: string): Llama2cHeader {
  const [dim, hiddenDim, numLayers, numHeads, numKvHeads, signedVocab, seqLen] = fields;
  // Version 0 marks a separate classifier with a negative vocab_size.
  const vocabSize = Math.abs(signedVocab);
  const values = [dim, hiddenDim, numLayers, numHeads, numKvHeads, vocabSize, seqLen];
  values.forEach((value, index) => {
    if (value <= 0) {
      throw new CorruptFileError(`${fieldNames[index]} must be positive, got ${value}; is this a llama2.c checkpoint?`, {
        file,
        field: fieldNames[index],
      });
    }
  });

  if (dim % numHeads !== 0) {
    throw new CorruptFileError(`dim ${dim} is not a multiple of n_heads ${numHeads}`, { file, field: "n_heads" });
  }
  if (numHeads % numKvHeads !== 0) {
    throw new CorruptFileError(`n_heads ${numHeads} is not a multiple of n_kv_heads ${numKvHeads}`, {
      file,
      field: "n_kv_heads",
    });
  }
  const headSize = dim / numHeads;
  if (headSize % 2 !== 0) {
    throw new CorruptFileError(`head size ${headSize} (dim / n_heads) must be even for RoPE`, { file, field: "n_heads" });
  }

  return {
    version,
    dim,
    hiddenDim,
    numLayers,
    numHeads,
    numKvHeads,
    vocabSize,
    seqLen,
    sharedClassifier,
    headSize,
    kvDim: headSize * numKvHeads,
  };
}

function describeHeader(header: Llama2cHeader): string {
  return (
    `version ${header.version}, dim ${header.dim}, hidden_dim ${header.hiddenDim}, n_layers ${header.numLayers}, ` +
    `n_heads ${header.numHeads}, n_kv_heads ${header.numKvHeads}, vocab_size ${header.vocabSize}, ` +
    `seq_len ${header.seqLen}, ${header.sharedClassifier ? "shared" : "separate"} classifier`
  );
}

function layerPlans(header: Llama2cHeader): Record<"wq" | "wk" | "wv" | "wo" | "w1" | "w2" | "w3", SegmentPlan> {
  const layers = BigInt(header.numLayers);
  const dim = BigInt(header.dim);
  const hidden = BigInt(header.hiddenDim);
  const kvDim = BigInt(header.kvDim);
  return {
    wq: { kind: "wq", shape: [dim, dim], items: layers },
    wk: { kind: "wk", shape: [kvDim, dim], items: layers },
    wv: { kind: "wv", shape: [kvDim, dim], items: layers },
    wo: { kind: "wo", shape: [dim, dim], items: layers },
    w1: { kind: "w1", shape: [hidden, dim], items: layers },
    w2: { kind: "w2", shape: [dim, hidden], items: layers },
    w3: { kind: "w3", shape: [hidden, dim], items: layers },
  };
}

/** Version 0: embedding first, norms between the projections, freq_cis tables, then wcls. */
function legacyPlan(header: Llama2cHeader, withFreqCis: boolean): SegmentPlan[] {
  const layers = BigInt(header.numLayers);
  const dim = BigInt(header.dim);
  const linear = layerPlans(header);
  const plans: SegmentPlan[] = [
    { kind: "token_embedding", shape: [BigInt(header.vocabSize), dim], items: 1n },
    { kind: "attention_norm", shape: [dim], items: layers },
    linear.wq,
    linear.wk,
    linear.wv,
    linear.wo,
    { kind: "ffn_norm", shape: [dim], items: layers },
    linear.w1,
    linear.w2,
    linear.w3,
    { kind: "final_norm", shape: [dim], items: 1n },
  ];
  if (withFreqCis) {
    const table = [BigInt(header.seqLen), BigInt(header.headSize / 2)];
    plans.push({ kind: "freq_cis_real", shape: table, items: 1n }, { kind: "freq_cis_imag", shape: table, items: 1n });
  }
  if (!header.sharedClassifier) plans.push({ kind: "output_head", shape: [BigInt(header.vocabSize), dim], items: 1n });
  return plans;
}

/** Version 1: all norms first, then the embedding, the projections and wcls. */
function versionOnePlan(header: Llama2cHeader): SegmentPlan[] {
  const layers = BigInt(header.numLayers);
  const dim = BigInt(header.dim);
  const linear = layerPlans(header);
  const plans: SegmentPlan[] = [
    { kind: "attention_norm", shape: [dim], items: layers },
    { kind: "ffn_norm", shape: [dim], items: layers },
    { kind: "final_norm", shape: [dim], items: 1n },
    { kind: "token_embedding", shape: [BigInt(header.vocabSize), dim], items: 1n },
    linear.wq,
    linear.wk,
    linear.wv,
    linear.wo,
    linear.w1,
    linear.w2,
    linear.w3,
  ];
  if (!header.sharedClassifier) plans.push({ kind: "output_head", shape: [BigInt(header.vocabSize), dim], items: 1n });
  return plans;
}

function planBytes(plan: SegmentPlan): bigint {
  return plan.shape.reduce((product, dim) => product * dim, plan.items * 4n);
}

/** Assigns offsets; only called once the total matched the file size, so every number is safe. */
function placeSegments(plans: SegmentPlan[], headerBytes: number): Llama2cSegment[] {
  let offset = headerBytes;
  return plans.map((plan) => {
    const byteLength = Number(planBytes(plan));
    const segment: Llama2cSegment = {
      kind: plan.kind,
      shape: plan.shape.map(Number),
      items: Number(plan.items),
      offset,
      byteLength,
    };
    offset += byteLength;
    return segment;
  });
}
