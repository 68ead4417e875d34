// ggml tensor types: ids, names and block geometry, used to size every tensor before reading it.
// The table follows gguf-py 0.19 `GGML_QUANT_SIZES`. Ids missing here were removed from ggml.

export interface GgmlTypeInfo {
  id: number;
  name: string;
  /** Elements per block (1 for plain types). */
  blockSize: number;
  /** Bytes per block. */
  typeSize: number;
}

const typeTable: readonly GgmlTypeInfo[] = [
  { id: 0, name: "F32", blockSize: 1, typeSize: 4 },
  { id: 1, name: "F16", blockSize: 1, typeSize: 2 },
  { id: 2, name: "Q4_0", blockSize: 32, typeSize: 18 },
  { id: 3, name: "Q4_1", blockSize: 32, typeSize: 20 },
  { id: 6, name: "Q5_0", blockSize: 32, typeSize: 22 },
  { id: 7, name: "Q5_1", blockSize: 32, typeSize: 24 },
  { id: 8, name: "Q8_0", blockSize: 32, typeSize: 34 },
  { id: 9, name: "Q8_1", blockSize: 32, typeSize: 40 },
  { id: 10, name: "Q2_K", blockSize: 256, typeSize: 84 },
  { id: 11, name: "Q3_K", blockSize: 256, typeSize: 110 },
  { id: 12, name: "Q4_K", blockSize: 256, typeSize: 144 },
  { id: 13, name: "Q5_K", blockSize: 256, typeSize: 176 },
  { id: 14, name: "Q6_K", blockSize: 256, typeSize: 210 },
  { id: 15, name: "Q8_K", blockSize: 256, typeSize: 292 },
  { id: 16, name: "IQ2_XXS", blockSize: 256, typeSize: 66 },
  { id: 17, name: "IQ2_XS", blockSize: 256, typeSize: 74 },
  { id: 18, name: "IQ3_XXS", blockSize: 256, typeSize: 98 },
  { id: 19, name: "IQ1_S", blockSize: 256, typeSize: 50 },
  { id: 20, name: "IQ4_NL", blockSize: 32, typeSize: 18 },
  { id: 21, name: "IQ3_S", blockSize: 256, typeSize: 110 },
  { id: 22, name: "IQ2_S", blockSize: 256, typeSize: 82 },
  { id: 23, name: "IQ4_XS", blockSize: 256, typeSize: 136 },
  { id: 24, name: "I8", blockSize: 1, typeSize: 1 },
  { id: 25, name: "I16", blockSize: 1, typeSize: 2 },
  { id: 26, name: "I32", blockSize: 1, typeSize: 4 },
  { id: 27, name: "I64", blockSize: 1, typeSize: 8 },
  { id: 28, name: "F64", blockSize: 1, typeSize: 8 },
  { id: 29, name: "IQ1_M", blockSize: 256, typeSize: 56 },
  { id: 30, name: "BF16", blockSize: 1, typeSize: 2 },
  { id: 34, name: "TQ1_0", blockSize: 256, typeSize: 54 },
  { id: 35, name: "TQ2_0", blockSize: 256, typeSize: 66 },
  { id: 39, name: "MXFP4", blockSize: 32, typeSize: 17 },
  { id: 40, name: "NVFP4", blockSize: 64, typeSize: 36 },
  { id: 41, name: "Q1_0", blockSize: 128, typeSize: 18 },
];

const typesById = new Map(typeTable.map((info) => [info.id, info]));
const typesByName = new Map(typeTable.map((info) => [info.name, info]));

/** Ids of the types this package can dequantize, by name. */
export const GgmlType = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q4_1: 3,
  Q5_0: 6,
  Q5_1: 7,
  Q8_0: 8,
  Q2_K: 10,
  Q3_K: 11,
  Q4_K: 12,
  Q5_K: 13,
  Q6_K: 14,
  BF16: 30,
} as const;

export type GgmlTypeName = keyof typeof GgmlType;

/** Returns the geometry of a ggml type id, or undefined for ids ggml does not define. */
export function ggmlTypeInfo(id: number): GgmlTypeInfo | undefined {
  return typesById.get(id);
}

export function ggmlTypeByName(name: string): GgmlTypeInfo | undefined {
  return typesByName.get(name);
}

/** Returns "Q4_K" for a known id and "type 9999" for an unknown one, for messages. */
export function ggmlTypeLabel(id: number): string {
  return typesById.get(id)?.name ?? `type ${id}`;
}
