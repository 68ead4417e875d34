// An ONNX graph under construction: typed inputs and outputs, nodes with attributes, and initializers
// whose bytes travel as in-memory external data, so a model of any size stays out of the protobuf
// (which protobufjs and ONNX limit to 2 GiB).
import { f32ToF16 } from "@elitekv/core";

import { externalDataLocation, modelProto, onnxAttributeType, onnxDataType, type OnnxDataType } from "./onnx-schema.js";

/** A dimension: a fixed size or a symbolic name such as "tokens". */
export type OnnxDim = number | string;

export type AttributeValue = number | string | readonly number[] | { floats: readonly number[] } | { float: number };

export interface EncodedModel {
  /** The serialized ModelProto. */
  model: Uint8Array;
  /** The file name the initializers reference, for ORT's in-memory external data option. */
  externalDataPath: string;
  /** Every initializer's bytes, concatenated at the offsets the model records. */
  externalData: Uint8Array;
}

interface ValueInfo {
  name: string;
  type: { tensorType: { elemType: number; shape: { dim: ({ dimValue: number } | { dimParam: string })[] } } };
}

interface PendingInitializer {
  name: string;
  dims: number[];
  dataType: OnnxDataType;
  bytes: Uint8Array;
}

// ONNX IR version 10 and opset 21 are read by onnxruntime 1.17 and later.
const irVersion = 10;
const defaultOpset = 21;
const externalDataFile = "weights.bin";
// Initializers start at multiples of this many bytes, which ORT's external data reader accepts for any type.
const initializerAlignment = 64;
// Smaller initializers (shapes, axes, scalars) stay inside the model: ONNX shape inference reads shape
// and axes constants only from inline data.
const inlineLimitBytes = 1024;

export class GraphBuilder {
  private readonly nodes: object[] = [];
  private readonly inputs: ValueInfo[] = [];
  private readonly outputs: ValueInfo[] = [];
  private readonly initializers: PendingInitializer[] = [];
  private readonly names = new Set<string>();
  private counter = 0;

  constructor(private readonly graphName: string) {}

  /** Declares a graph input and returns its name. */
  input(name: string, dataType: OnnxDataType, dims: readonly OnnxDim[]): string {
    this.claim(name);
    this.inputs.push(valueInfo(name, dataType, dims));
    return name;
  }

  /** Declares `value` as a graph output named `name`, adding an Identity node when the names differ. */
  output(name: string, value: string, dataType: OnnxDataType, dims: readonly OnnxDim[]): string {
    if (value !== name) {
      this.claim(name);
      this.nodes.push({ opType: "Identity", input: [value], output: [name], name: `${name}/identity` });
    }
    this.outputs.push(valueInfo(name, dataType, dims));
    return name;
  }

  /** Adds a float32 initializer, stored as float16 when `storage` is "f16", and returns its name. */
  weight(name: string, data: Float32Array, dims: readonly number[], storage: "f32" | "f16" = "f32"): string {
    checkElementCount(name, data.length, dims);
    this.claim(name);
    if (storage === "f32") {
      this.initializers.push({ name, dims: [...dims], dataType: onnxDataType.float, bytes: bytesOf(data) });
      return name;
    }

    // ORT folds Cast(initializer) into a float32 constant when the session loads, so compute stays f32.
    const stored = `${name}/f16`;
    this.claim(stored);
    this.initializers.push({ name: stored, dims: [...dims], dataType: onnxDataType.float16, bytes: bytesOf(toFloat16(data)) });
    this.nodes.push({ opType: "Cast", input: [stored], output: [name], name: `${name}/cast`, attribute: [intAttribute("to", onnxDataType.float)] });
    return name;
  }

  /** Adds an initializer of raw bytes (such as packed quantized codes) under `name` and returns the name. */
  raw(name: string, bytes: Uint8Array, dims: readonly number[], dataType: OnnxDataType): string {
    this.claim(name);
    this.initializers.push({ name, dims: [...dims], dataType, bytes });
    return name;
  }

  /** Adds an int64 constant initializer and returns its name. */
  int64(values: readonly number[], dims: readonly number[] = [values.length], hint = "int64"): string {
    const name = this.fresh(hint);
    checkElementCount(name, values.length, dims);
    const data = BigInt64Array.from(values, (value) => BigInt(value));
    this.initializers.push({ name, dims: [...dims], dataType: onnxDataType.int64, bytes: bytesOf(data) });
    return name;
  }

  /** Adds a float32 constant initializer with a generated name and returns the name. */
  float(values: Float32Array | readonly number[], dims: readonly number[], hint = "float"): string {
    const name = this.fresh(hint);
    const data = values instanceof Float32Array ? values : Float32Array.from(values);
    checkElementCount(name, data.length, dims);
    this.initializers.push({ name, dims: [...dims], dataType: onnxDataType.float, bytes: bytesOf(data) });
    return name;
  }

  /**
   * Adds a node and returns its output names. Attributes: a number is an INT unless given as
   * `{ float }`, an array of numbers is INTS unless given as `{ floats }`, a string is a STRING.
   */
  node(opType: string, inputs: readonly string[], attributes: Record<string, AttributeValue> = {}, outputCount = 1, domain = ""): string[] {
    const outputs = Array.from({ length: outputCount }, () => this.fresh(opType.toLowerCase()));
    const attribute = Object.entries(attributes).map(([name, value]) => encodeAttribute(name, value));
    this.nodes.push({ opType, input: [...inputs], output: outputs, name: `${outputs[0]}/node`, attribute, domain });
    return outputs;
  }

  /** node() for the usual single output. */
  op(opType: string, inputs: readonly string[], attributes: Record<string, AttributeValue> = {}): string {
    return this.node(opType, inputs, attributes)[0];
  }

  /** Serializes the model; the initializers go to one external data blob. */
  encode(): EncodedModel {
    let size = 0;
    const offsets = new Map<PendingInitializer, number>();
    for (const pending of this.initializers) {
      if (pending.bytes.byteLength <= inlineLimitBytes) continue;
      size = Math.ceil(size / initializerAlignment) * initializerAlignment;
      offsets.set(pending, size);
      size += pending.bytes.byteLength;
    }
    const externalData = new Uint8Array(size);
    const initializer = this.initializers.map((pending) => {
      const offset = offsets.get(pending);
      if (offset === undefined) {
        return { name: pending.name, dims: pending.dims, dataType: pending.dataType, rawData: pending.bytes };
      }
      externalData.set(pending.bytes, offset);
      return {
        name: pending.name,
        dims: pending.dims,
        dataType: pending.dataType,
        dataLocation: externalDataLocation,
        externalData: [
          { key: "location", value: externalDataFile },
          { key: "offset", value: String(offset) },
          { key: "length", value: String(pending.bytes.byteLength) },
        ],
      };
    });

    const message = modelProto.fromObject({
      irVersion,
      producerName: "elitekv",
      opsetImport: [
        { domain: "", version: defaultOpset },
        { domain: "com.microsoft", version: 1 },
      ],
      graph: { name: this.graphName, node: this.nodes, initializer, input: this.inputs, output: this.outputs },
    });
    return { model: modelProto.encode(message).finish(), externalDataPath: externalDataFile, externalData };
  }

  private fresh(hint: string): string {
    let name: string;
    do name = `${hint}_${this.counter++}`;
    while (this.names.has(name));
    this.names.add(name);
    return name;
  }

  private claim(name: string): void {
    if (this.names.has(name)) throw new Error(`graph ${this.graphName} already has a value named ${name}`);
    this.names.add(name);
  }
}

function valueInfo(name: string, dataType: OnnxDataType, dims: readonly OnnxDim[]): ValueInfo {
  const dim = dims.map((value) => (typeof value === "number" ? { dimValue: value } : { dimParam: value }));
  return { name, type: { tensorType: { elemType: dataType, shape: { dim } } } };
}

function intAttribute(name: string, value: number): object {
  return { name, type: onnxAttributeType.int, i: value };
}

function encodeAttribute(name: string, value: AttributeValue): object {
  if (typeof value === "number") return intAttribute(name, value);
  if (typeof value === "string") return { name, type: onnxAttributeType.string, s: new TextEncoder().encode(value) };
  if ("float" in value) return { name, type: onnxAttributeType.float, f: value.float };
  if ("floats" in value) return { name, type: onnxAttributeType.floats, floats: [...value.floats] };
  return { name, type: onnxAttributeType.ints, ints: [...value] };
}

function checkElementCount(name: string, length: number, dims: readonly number[]): void {
  const expected = dims.reduce((product, dim) => product * dim, 1);
  if (expected !== length) throw new Error(`initializer ${name} has ${length} elements but dims [${dims.join(", ")}] hold ${expected}`);
}

function bytesOf(data: Float32Array | Uint16Array | BigInt64Array): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function toFloat16(data: Float32Array): Uint16Array {
  const out = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = f32ToF16(data[i]);
  return out;
}

/**
 * Returns the `externalData` session option for an encoded model. ORT rejects an empty external data buffer,
 * so a model whose initializers are all inline gets none.
 */
export function externalDataEntries(encoded: EncodedModel): { path: string; data: Uint8Array }[] {
  return encoded.externalData.byteLength === 0 ? [] : [{ path: encoded.externalDataPath, data: encoded.externalData }];
}
