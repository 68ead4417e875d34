import { describe, expect, it } from "vitest";

import { InvalidConfigError, UnsupportedArchitectureError } from "@elitekv/core";

import { parseHuggingFaceConfig } from "../src/huggingface/index.js";

const base = {
  architectures: ["LlamaForCausalLM"],
  hidden_size: 64,
  intermediate_size: 128,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  vocab_size: 100,
};

function parse(overrides: Record<string, unknown>) {
  return parseHuggingFaceConfig({ ...base, ...overrides }, "config.json");
}

function parseError(overrides: Record<string, unknown>): Error {
  try {
    parse(overrides);
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected the config to be rejected");
}

describe("Hugging Face config defaults", () => {
  it("follows LlamaConfig defaults", () => {
    const { config } = parse({});
    expect(config.numKvHeads).toBe(4);
    expect(config.headDim).toBe(16);
    expect(config.rope.theta).toBe(10000);
    expect(config.rope.scaling).toEqual({ type: "none" });
    expect(config.rmsNormEps).toBe(1e-6);
    expect(config.maxPositionEmbeddings).toBe(2048);
    expect(config.tieWordEmbeddings).toBe(false);
    expect(config.bosTokenId).toBeNull();
    expect(config.eosTokenIds).toEqual([]);
  });

  it("accepts Mistral and records its window", () => {
    const parsed = parse({ architectures: ["MistralForCausalLM"], sliding_window: 4096, num_key_value_heads: 2 });
    expect(parsed.architecture).toBe("MistralForCausalLM");
    expect(parsed.slidingWindow).toBe(4096);
    expect(parsed.config.numKvHeads).toBe(2);
  });

  it("accepts a list of EOS ids", () => {
    expect(parse({ eos_token_id: [128001, 128008, 128009] }).config.eosTokenIds).toEqual([128001, 128008, 128009]);
    expect(parse({ eos_token_id: 2 }).config.eosTokenIds).toEqual([2]);
  });

  it("uses model_type without architectures", () => {
    expect(parse({ architectures: undefined, model_type: "llama" }).architecture).toBe("llama (model_type)");
  });
});

describe("Hugging Face rope_scaling", () => {
  const llama3 = { factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 };
  const expected = { type: "llama3", factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 };

  it("reads llama3 from rope_type", () => {
    expect(parse({ rope_scaling: { rope_type: "llama3", ...llama3 }, rope_theta: 500000 }).config.rope).toMatchObject({
      theta: 500000,
      scaling: expected,
    });
  });

  it("reads llama3 from the legacy type key", () => {
    expect(parse({ rope_scaling: { type: "llama3", ...llama3 } }).config.rope.scaling).toEqual(expected);
  });

  it("reads linear scaling", () => {
    expect(parse({ rope_scaling: { type: "linear", factor: 2 } }).config.rope.scaling).toEqual({ type: "linear", factor: 2 });
  });

  it("treats default as no scaling", () => {
    expect(parse({ rope_scaling: { rope_type: "default" } }).config.rope.scaling).toEqual({ type: "none" });
  });

  it("rejects unknown types by name", () => {
    const error = parseError({ rope_scaling: { rope_type: "yarn", factor: 4 } });
    expect(error).toBeInstanceOf(UnsupportedArchitectureError);
    expect(error.message).toContain("yarn");
  });

  it("requires every llama3 field", () => {
    const error = parseError({ rope_scaling: { rope_type: "llama3", factor: 8, high_freq_factor: 4, original_max_position_embeddings: 8192 } });
    expect(error).toBeInstanceOf(InvalidConfigError);
    expect((error as InvalidConfigError).field).toBe("rope_scaling.low_freq_factor");
  });

  it("requires a type", () => {
    expect(parseError({ rope_scaling: { factor: 2 } })).toBeInstanceOf(InvalidConfigError);
  });
});

describe("Hugging Face config errors", () => {
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ["a negative size", { hidden_size: -1 }, "hidden_size"],
    ["a fractional size", { num_hidden_layers: 1.5 }, "num_hidden_layers"],
    ["a string size", { intermediate_size: "128" }, "intermediate_size"],
    ["heads not dividing hidden", { num_attention_heads: 5 }, "head_dim"],
    ["kv heads not dividing heads", { num_key_value_heads: 3 }, "numKvHeads"],
    ["an odd head_dim", { head_dim: 15 }, "headDim"],
    ["a bad eps", { rms_norm_eps: 0 }, "rms_norm_eps"],
    ["a bad EOS", { eos_token_id: ["2"] }, "eos_token_id"],
    ["a non-boolean tie flag", { tie_word_embeddings: "yes" }, "tie_word_embeddings"],
  ];
  for (const [label, overrides, field] of cases) {
    it(`rejects ${label}`, () => {
      const error = parseError(overrides);
      expect(error).toBeInstanceOf(InvalidConfigError);
      expect((error as InvalidConfigError).field).toBe(field);
      expect(error.message).toContain("config.json");
    });
  }

  const unsupported: Array<[string, Record<string, unknown>, string]> = [
    ["another architecture", { architectures: ["GPT2LMHeadModel"] }, "GPT2LMHeadModel"],
    ["gelu", { hidden_act: "gelu" }, "gelu"],
    ["attention biases", { attention_bias: true }, "attention_bias"],
    ["MLP biases", { mlp_bias: true }, "mlp_bias"],
    ["partial rotary", { partial_rotary_factor: 0.5 }, "partial_rotary_factor"],
  ];
  for (const [label, overrides, named] of unsupported) {
    it(`rejects ${label} by name`, () => {
      const error = parseError(overrides);
      expect(error).toBeInstanceOf(UnsupportedArchitectureError);
      expect(error.message).toContain(named);
    });
  }

  it("rejects a non-object", () => {
    expect(() => parseHuggingFaceConfig([1], "config.json")).toThrow(InvalidConfigError);
  });
});
