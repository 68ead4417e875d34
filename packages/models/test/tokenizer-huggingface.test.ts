import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { describe, expect, it } from "vitest";

import { CorruptFileError, FileNotFoundError, InvalidArgumentError, InvalidTokenizerError, type ChatMessage } from "@elitekv/core";
import { hasShared, sharedPath } from "@elitekv/vitest-config/shared";

import { HuggingFaceTokenizer, loadHuggingFaceTokenizer } from "../src/huggingface/index.js";

const fixtures = join(dirname(fileURLToPath(import.meta.url)), "fixtures", "tokenizers");
const goldens = JSON.parse(readFileSync(join(fixtures, "goldens.json"), "utf8"));

function fixtureTokenizer(name: string, config: Record<string, unknown> = {}): HuggingFaceTokenizer {
  const json = JSON.parse(readFileSync(join(fixtures, name), "utf8"));
  return new HuggingFaceTokenizer(json, config, { source: name });
}

function streamAll(tokenizer: HuggingFaceTokenizer, ids: readonly number[]): { pushed: string[]; flushed: string } {
  const stream = tokenizer.createDecoderStream();
  const pushed = ids.map((id) => stream.push(id));
  return { pushed, flushed: stream.flush() };
}

describe("tokenizer.json byte fallback decoding", () => {
  const tokenizer = fixtureTokenizer("toy-byte-fallback.tokenizer.json");
  const { ids, text } = goldens.toy_byte_fallback;

  it("matches the Rust decoder, one U+FFFD per byte", () => {
    expect(text).toBe("Once upon\n a\uFFFD\uFFFD");
    expect(tokenizer.decode(ids)).toBe(text);
  });

  it("streams the same text without early U+FFFD", () => {
    const { pushed, flushed } = streamAll(tokenizer, ids);
    expect(pushed).toEqual(["", "Once", " upon", "\n", " a", "", ""]);
    expect(flushed).toBe("\uFFFD\uFFFD");
  });

  it("emits a character split over three tokens whole", () => {
    // € is E2 82 AC: ids 4, 5, 6.
    const { pushed, flushed } = streamAll(tokenizer, [1, 9, 4, 5, 6, 9]);
    expect(pushed).toEqual(["", "a", "", "", "€", " a"]);
    expect(flushed).toBe("");
    expect(tokenizer.decode([1, 9, 4, 5, 6, 9])).toBe("a€ a");
  });

  it("decodes unknown ids to U+FFFD", () => {
    expect(tokenizer.vocabSize).toBe(10);
    expect(tokenizer.decode([7, 10, 8, -1])).toBe("Once\uFFFD upon\uFFFD");
    const { pushed } = streamAll(tokenizer, [7, 99]);
    expect(pushed.join("")).toBe("Once\uFFFD");
  });

  it("decodes an empty list to an empty string", () => {
    expect(tokenizer.decode([])).toBe("");
  });
});

describe("tokenizer.json added tokens", () => {
  const tokenizer = fixtureTokenizer("added-tokens.tokenizer.json");

  for (const [text, expected] of Object.entries(goldens.added_tokens as Record<string, number[]>)) {
    it(`encodes ${JSON.stringify(text)} like Python tokenizers`, () => {
      expect(tokenizer.encode(text)).toEqual(expected);
    });
  }
});

describe("tokenizer.json merge formats", () => {
  const strings = fixtureTokenizer("merges-strings.tokenizer.json");
  const pairs = fixtureTokenizer("merges-pairs.tokenizer.json");
  const withSpace = fixtureTokenizer("merges-with-space.tokenizer.json");

  for (const [text, expected] of Object.entries(goldens.merges as Record<string, Record<string, number[]>>)) {
    it(`encodes ${JSON.stringify(text)} the same in both formats`, () => {
      expect(strings.encode(text)).toEqual(expected.strings);
      expect(pairs.encode(text)).toEqual(expected.pairs);
      expect(withSpace.encode(text)).toEqual(expected.with_space);
    });
  }

  it("applies a merge containing a space", () => {
    expect(withSpace.encode("a bc")).toEqual([withSpace.tokenToId("a bc")]);
  });
});

describe("tokenizer.json special tokens", () => {
  const config = { bos_token: "<s>", eos_token: { content: "</s>", special: true }, add_bos_token: true };
  const tokenizer = fixtureTokenizer("added-tokens.tokenizer.json", config);

  it("reads BOS and EOS from tokenizer_config.json", () => {
    expect(tokenizer.bosId).toBe(1);
    expect(tokenizer.eosIds).toEqual([2]);
    expect(tokenizer.addBosToken).toBe(true);
  });

  it("prepends BOS only on request", () => {
    const plain = tokenizer.encode("hello");
    expect(tokenizer.encode("hello", { addBos: true })).toEqual([1, ...plain]);
  });

  it("merges extra EOS ids", () => {
    const merged = new HuggingFaceTokenizer(JSON.parse(readFileSync(join(fixtures, "added-tokens.tokenizer.json"), "utf8")), config, {
      eosTokenIds: [5, 2],
    });
    expect(merged.eosIds).toEqual([5, 2]);
  });

  it("skips special tokens when decoding", () => {
    expect(tokenizer.decode(tokenizer.encode("<s>text</s>"))).toBe("text");
  });
});

describe("chat templates", () => {
  const templates = goldens.chat_templates as Record<string, { template: string; messages: ChatMessage[]; rendered: string }>;
  const withTemplate = (template: string) =>
    fixtureTokenizer("added-tokens.tokenizer.json", {
      bos_token: "<|begin_of_text|>",
      eos_token: "</s>",
      chat_template: template,
    });

  for (const name of ["llama31", "title_strip", "mistral"]) {
    it(`renders ${name} like Python Jinja`, () => {
      const tokenizer = withTemplate(templates[name].template);
      expect(tokenizer.applyChatTemplate!(templates[name].messages, { addGenerationPrompt: true })).toBe(templates[name].rendered);
    });
  }

  it("reports whether the template emits BOS", () => {
    expect(withTemplate(templates.llama31.template).chatTemplateAddsBos).toBe(true);
    expect(withTemplate(templates.title_strip.template).chatTemplateAddsBos).toBe(false);
  });

  it("yields one BOS when the template emits it", () => {
    const tokenizer = fixtureTokenizer("added-tokens.tokenizer.json", {
      bos_token: "<s>",
      add_bos_token: true,
      chat_template: "{{ bos_token }}{% for message in messages %}{{ message['content'] }}{% endfor %}",
    });
    const prompt = tokenizer.applyChatTemplate!([{ role: "user", content: "hello" }]);
    const ids = tokenizer.encode(prompt, { addBos: !tokenizer.chatTemplateAddsBos });
    expect(tokenizer.chatTemplateAddsBos).toBe(true);
    expect(ids[0]).toBe(1);
    expect(ids.filter((id) => id === 1)).toHaveLength(1);
  });

  it("turns raise_exception into a usage error", () => {
    const tokenizer = withTemplate(templates.mistral.template);
    const messages: ChatMessage[] = [
      { role: "user", content: "a" },
      { role: "user", content: "b" },
    ];
    const error = (() => {
      try {
        tokenizer.applyChatTemplate!(messages);
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toContain("Conversation roles must alternate");
  });

  it("picks the default of named templates", () => {
    const tokenizer = withTemplate([
      { name: "tool_use", template: "tools" },
      { name: "default", template: "{{ messages[0]['content'] }}" },
    ] as unknown as string);
    expect(tokenizer.applyChatTemplate!([{ role: "user", content: "hi" }])).toBe("hi");
  });

  it("rejects a template that does not parse", () => {
    expect(() => withTemplate("{% for %}")).toThrow(InvalidTokenizerError);
  });

  it("has no applyChatTemplate without a template", () => {
    const tokenizer = fixtureTokenizer("added-tokens.tokenizer.json");
    expect(tokenizer.applyChatTemplate).toBeUndefined();
    expect(tokenizer.hasChatTemplate).toBe(false);
  });
});

describe("tokenizer.json errors", () => {
  it("rejects an unknown model type", () => {
    const error = (() => {
      try {
        return new HuggingFaceTokenizer({ model: { type: "Mystery" } }, {}, { source: "bad.json" });
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(InvalidTokenizerError);
    expect((error as Error).message).toContain("bad.json");
  });

  it("drops unknown characters without unk", () => {
    // Python tokenizers 0.21.1 gives [1, 2] for this input too: BPE skips characters it cannot map.
    const json = JSON.parse(readFileSync(join(fixtures, "merges-pairs.tokenizer.json"), "utf8"));
    json.model.unk_token = null;
    json.added_tokens = [];
    delete json.model.vocab["<unk>"];
    const tokenizer = new HuggingFaceTokenizer(json, {}, { source: "no-unk.json" });
    expect(tokenizer.encode("abz")).toEqual([1, 2]);
  });

  it("rejects a file without a model section", () => {
    expect(() => new HuggingFaceTokenizer({ version: "1.0" }, {})).toThrow(InvalidTokenizerError);
  });

  it("reports invalid JSON with the path", async () => {
    const folder = await mkdtemp(join(tmpdir(), "elitekv-tokenizer-"));
    try {
      await writeFile(join(folder, "tokenizer.json"), "{ not json");
      const error = await loadHuggingFaceTokenizer(folder).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(CorruptFileError);
      expect((error as Error).message).toContain(join(folder, "tokenizer.json"));
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it("reports a missing tokenizer.json", async () => {
    await expect(loadHuggingFaceTokenizer(join(tmpdir(), "elitekv-absent-tokenizer"))).rejects.toBeInstanceOf(FileNotFoundError);
  });
});

describe.skipIf(!hasShared)("tinystories-656k tokenizer goldens", () => {
  const folder = sharedPath("models", "tinystories-656k");
  const golden = hasShared ? JSON.parse(readFileSync(join(folder, "golden.json"), "utf8")) : undefined;
  const prefix = (path: string) => Array.from(readFileSync(path, "utf8")).slice(0, 40000).join("");

  it("reproduces token_ids_A", async () => {
    const tokenizer = await loadHuggingFaceTokenizer(folder);
    const text = prefix(sharedPath("data", "tinystories-valid-prefix", "tinystories_val.txt"));
    expect(createHash("sha256").update(text).digest("hex")).toBe(golden.eval_text.sha256_of_slice);
    expect(tokenizer.bosId).toBe(1);
    expect(tokenizer.encode(text, { addBos: true })).toEqual(golden.token_ids_A);
  });

  it("reproduces the WikiText-2 ids", async () => {
    const tokenizer = await loadHuggingFaceTokenizer(join(folder, "tokenizer.json"));
    const text = prefix(sharedPath("data", "wikitext-2-raw", "wikitext2_test_joined.txt"));
    expect(tokenizer.encode(text, { addBos: true })).toEqual(golden.wikitext2.token_ids);
  });

  it("streams greedy output exactly like decode", async () => {
    const tokenizer = await loadHuggingFaceTokenizer(folder);
    const ids = [1, ...golden.greedy_from_bos.ids];
    const { pushed, flushed } = streamAll(tokenizer, ids);
    expect(pushed.join("") + flushed).toBe(tokenizer.decode(ids));
    expect(tokenizer.decode(ids).startsWith("Once upon a time")).toBe(true);
    expect(pushed.join("")).not.toContain("\uFFFD");
  });
});
