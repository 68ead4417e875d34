// GGUF tokenizers: llama.cpp's SentencePiece test vectors, byte-level BPE pre-tokenizer variants,
// strict tokenizer array types (GGUF-04), incremental decoding and chat templates.
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { CorruptFileError, InvalidArgumentError, InvalidTokenizerError } from "@elitekv/core";
import { hasShared, sharedPath } from "@elitekv/vitest-config/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { GgufValueType, loadGgufTokenizer, writeGguf, type GgufTokenizer } from "../src/gguf/index.js";
import {
  bool,
  numbers,
  sentencePieceMetadata,
  sentencePieceVocabulary,
  str,
  strings,
  temporaryFolder,
  tinyPieces,
  tokenType,
  u32,
  type MetadataList,
} from "./fixtures/gguf/tiny-llama.js";

const scratch = temporaryFolder();
afterAll(() => scratch.remove());

let fileCounter = 0;
async function tokenizerFrom(metadata: MetadataList): Promise<GgufTokenizer> {
  const path = join(scratch.folder, `vocab-${fileCounter++}.gguf`);
  await writeGguf(path, { metadata: [["general.architecture", str("llama")], ...metadata], tensors: [] });
  return loadGgufTokenizer(path);
}

async function caught(action: () => Promise<unknown>): Promise<Error> {
  try {
    await action();
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected an error, but the call succeeded");
}

/** Feeds ids one at a time and returns what each push emitted, then the flush. */
function streamPieces(tokenizer: GgufTokenizer, ids: number[]): { pushes: string[]; flushed: string } {
  const stream = tokenizer.createDecoderStream();
  const pushes = ids.map((id) => stream.push(id));
  return { pushes, flushed: stream.flush() };
}

/** GPT-2's byte-to-character table, written out from its definition. */
function gpt2ByteCharacters(): string[] {
  const printable: number[] = [];
  for (let byte = 0x21; byte <= 0x7e; byte++) printable.push(byte);
  for (let byte = 0xa1; byte <= 0xac; byte++) printable.push(byte);
  for (let byte = 0xae; byte <= 0xff; byte++) printable.push(byte);
  const characters = new Array<string>(256);
  let extra = 0;
  for (let byte = 0; byte < 256; byte++) {
    characters[byte] = printable.includes(byte) ? String.fromCharCode(byte) : String.fromCharCode(256 + extra++);
  }
  return characters;
}

describe.skipIf(!hasShared)("SentencePiece vocabulary against llama.cpp's test vectors", () => {
  const folder = sharedPath("models", "llama2-tokenizer");
  let tokenizer: GgufTokenizer;
  let inputs: string[];
  let outputs: number[][];

  beforeAll(async () => {
    tokenizer = await loadGgufTokenizer(join(folder, "ggml-vocab-llama-spm.gguf"));
    // Each input is followed by "\n__ggml_vocab_test__\n", and the expected ids come one line per input.
    inputs = readFileSync(join(folder, "ggml-vocab-llama-spm.gguf.inp"), "utf8").split("\n__ggml_vocab_test__\n");
    inputs.pop();
    outputs = readFileSync(join(folder, "ggml-vocab-llama-spm.gguf.out"), "utf8")
      .split("\n")
      .slice(0, inputs.length)
      .map((line) => (line.trim() === "" ? [] : line.trim().split(/\s+/).map(Number)));
  });

  it("reads 46 vectors", () => {
    expect(inputs).toHaveLength(46);
    expect(outputs).toHaveLength(46);
  });

  it("encodes every vector to llama.cpp's ids", () => {
    inputs.forEach((text, index) => {
      expect(tokenizer.encode(text), `vector ${index}: ${JSON.stringify(text)}`).toEqual(outputs[index]);
    });
  });

  it("decodes every vector back to its text", () => {
    inputs.forEach((text, index) => {
      expect(tokenizer.decode(outputs[index]), `vector ${index}`).toBe(text);
    });
  });

  it("adds BOS only when asked", () => {
    expect(tokenizer.bosId).toBe(1);
    expect(tokenizer.eosIds).toEqual([2]);
    expect(tokenizer.encode("Hello world", { addBos: true })).toEqual([1, 15043, 3186]);
  });

  it("decodes pieces and byte pieces incrementally", () => {
    const vocabulary = tokenizer.vocabulary.tokens;
    const id = (piece: string) => vocabulary.indexOf(piece);
    const ids = [1, id("▁Once"), id("▁upon"), id("<0x0A>"), id("▁a"), id("<0xE2>"), id("<0x82>")];
    const { pushes, flushed } = streamPieces(tokenizer, ids);

    expect(tokenizer.decode(ids)).toBe("Once upon\n a\uFFFD\uFFFD");
    expect(pushes).toEqual(["", "Once", " upon", "\n", " a", "", ""]);
    expect(flushed).toBe("\uFFFD\uFFFD");
  });

  it("agrees with @huggingface/tokenizers' own decoder on valid text", () => {
    for (const index of [0, 1, 10, 17, 20, 28]) {
      const expected = tokenizer.huggingFaceTokenizer.decode(outputs[index], {
        skip_special_tokens: true,
        clean_up_tokenization_spaces: false,
      });
      expect(tokenizer.decode(outputs[index]), `vector ${index}`).toBe(expected);
    }
  });

  it("keeps the U+FEFF token", () => {
    expect(tokenizer.vocabulary.tokens[30143]).toBe("\uFEFF");
    expect(tokenizer.encode("\uFEFF")).toEqual([29871, 30143]);
  });

  it("encodes a lone surrogate as U+FFFD", () => {
    expect(tokenizer.encode("a\uD83Db")).toEqual(tokenizer.encode("a\uFFFDb"));
  });
});

describe("SentencePiece vocabulary built in code", () => {
  const vocabulary = sentencePieceVocabulary(tinyPieces);
  const id = (piece: string) => vocabulary.tokens.indexOf(piece);

  it("merges by piece score", async () => {
    const tokenizer = await tokenizerFrom(sentencePieceMetadata(vocabulary));

    expect(tokenizer.encode("the a")).toEqual([id("▁the"), id("▁a")]);
    expect(tokenizer.encode("th")).toEqual([id("▁t"), id("h")]);
    expect(tokenizer.encode("the x")).toEqual([id("▁the"), id("▁"), 3 + 0x78]);
    expect(tokenizer.decode(tokenizer.encode("the x"))).toBe("the x");
  });

  it("skips the dummy prefix when add_space_prefix is false", async () => {
    const tokenizer = await tokenizerFrom([
      ...sentencePieceMetadata(vocabulary),
      ["tokenizer.ggml.add_space_prefix", bool(false)],
    ]);

    expect(tokenizer.encode("the a")).toEqual([id("t"), id("he"), id("▁a")]);
    expect(tokenizer.decode([id("▁a"), id("▁t")])).toBe(" a t");
  });

  it("matches control tokens written in the text", async () => {
    const tokenizer = await tokenizerFrom(sentencePieceMetadata(vocabulary));

    expect(tokenizer.encode("<s>the</s>")).toEqual([1, id("▁the"), 2]);
  });

  it("drops BOS when add_bos_token is false", async () => {
    const tokenizer = await tokenizerFrom([
      ...sentencePieceMetadata(vocabulary),
      ["tokenizer.ggml.add_bos_token", bool(false)],
    ]);

    expect(tokenizer.bosId).toBeNull();
    expect(tokenizer.encode("a", { addBos: true })).toEqual([id("▁a")]);
  });
});

describe("GGUF-04 tokenizer array types", () => {
  const vocabulary = sentencePieceVocabulary(tinyPieces);
  const count = vocabulary.tokens.length;
  const replaced = (key: string, value: MetadataList[number][1]): MetadataList =>
    sentencePieceMetadata(vocabulary).map(([name, entry]) => [name, name === key ? value : entry]);

  it("rejects scores declared as a UINT8 array", async () => {
    const metadata = replaced("tokenizer.ggml.scores", numbers(GgufValueType.UINT8, new Array(count).fill(1)));
    const error = await caught(() => tokenizerFrom(metadata));

    expect(error).toBeInstanceOf(CorruptFileError);
    expect((error as CorruptFileError).field).toBe("tokenizer.ggml.scores");
    expect(error.message).toContain("UINT8");
  });

  it("rejects token_type declared as a UINT8 array", async () => {
    const metadata = replaced("tokenizer.ggml.token_type", numbers(GgufValueType.UINT8, vocabulary.types));
    const error = await caught(() => tokenizerFrom(metadata));

    expect(error).toBeInstanceOf(CorruptFileError);
    expect((error as CorruptFileError).field).toBe("tokenizer.ggml.token_type");
  });

  it("rejects scores with one element fewer than the tokens", async () => {
    const metadata = replaced("tokenizer.ggml.scores", numbers(GgufValueType.FLOAT32, vocabulary.scores.slice(1)));
    const error = await caught(() => tokenizerFrom(metadata));

    expect(error).toBeInstanceOf(CorruptFileError);
    expect((error as CorruptFileError).field).toBe("tokenizer.ggml.scores");
    expect(error.message).toContain(`${count - 1} elements`);
  });

  it("rejects a BOS id outside the vocabulary", async () => {
    const metadata = replaced("tokenizer.ggml.bos_token_id", u32(count));
    const error = await caught(() => tokenizerFrom(metadata));

    expect(error).toBeInstanceOf(InvalidTokenizerError);
    expect((error as InvalidTokenizerError).field).toBe("tokenizer.ggml.bos_token_id");
  });

  it("rejects an unknown tokenizer model by name", async () => {
    const metadata = replaced("tokenizer.ggml.model", str("t5"));
    const error = await caught(() => tokenizerFrom(metadata));

    expect(error).toBeInstanceOf(InvalidTokenizerError);
    expect(error.message).toContain('"t5"');
  });
});

describe("byte-level BPE vocabularies", () => {
  const byteCharacters = gpt2ByteCharacters();
  const specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<tool>"];
  const merged = ["Ġt", "he", "Ġthe", "12", "123", "1234", "Ġxyz"];
  const tokens = [...specials, ...byteCharacters, ...merged];
  const types = [
    tokenType.control,
    tokenType.control,
    tokenType.control,
    tokenType.userDefined,
    ...byteCharacters.map(() => tokenType.normal),
    ...merged.map(() => tokenType.normal),
  ];
  const merges = ["Ġ t", "h e", "Ġt he", "1 2", "12 3", "123 4"];
  const byteId = (byte: number) => specials.length + byte;
  const id = (token: string) => tokens.indexOf(token);
  const space = byteId(0x20);
  const digit = (character: string) => byteId(character.charCodeAt(0));

  const metadataFor = (pre: string | undefined, extra: MetadataList = []): MetadataList => {
    const metadata: MetadataList = [
      ["tokenizer.ggml.model", str("gpt2")],
      ["tokenizer.ggml.tokens", strings(tokens)],
      ["tokenizer.ggml.token_type", numbers(GgufValueType.INT32, types)],
      ["tokenizer.ggml.merges", strings(merges)],
      ["tokenizer.ggml.bos_token_id", u32(1)],
      ["tokenizer.ggml.eos_token_id", u32(2)],
      ...extra,
    ];
    if (pre !== undefined) metadata.push(["tokenizer.ggml.pre", str(pre)]);
    return metadata;
  };

  it.each([
    ["default", [id("Ġthe"), space, id("1234")]],
    ["smollm", [id("Ġthe"), space, digit("1"), digit("2"), digit("3"), digit("4")]],
    ["llama-bpe", [id("Ġthe"), space, id("123"), digit("4")]],
    ["qwen2", [id("Ġthe"), space, digit("1"), digit("2"), digit("3"), digit("4")]],
  ])("pre-tokenizer %s splits digits its own way", async (pre, expected) => {
    const tokenizer = await tokenizerFrom(metadataFor(pre));
    expect(tokenizer.encode(" the 1234")).toEqual(expected);
  });

  it("treats a missing pre-tokenizer as the GPT-2 default", async () => {
    const tokenizer = await tokenizerFrom(metadataFor(undefined));
    expect(tokenizer.encode(" the 1234")).toEqual([id("Ġthe"), space, id("1234")]);
  });

  it("uses whole vocabulary words without merges only for llama-bpe", async () => {
    const llama3 = await tokenizerFrom(metadataFor("llama-bpe"));
    const gpt2 = await tokenizerFrom(metadataFor("default"));

    expect(llama3.encode(" xyz")).toEqual([id("Ġxyz")]);
    expect(gpt2.encode(" xyz")).toEqual([space, byteId(0x78), byteId(0x79), byteId(0x7a)]);
  });

  it("rejects an unknown pre-tokenizer by name", async () => {
    const error = await caught(() => tokenizerFrom(metadataFor("tekken")));

    expect(error).toBeInstanceOf(InvalidTokenizerError);
    expect((error as InvalidTokenizerError).field).toBe("tokenizer.ggml.pre");
    expect(error.message).toContain('"tekken"');
  });

  it("matches control and user-defined tokens and decodes only the user-defined ones", async () => {
    const tokenizer = await tokenizerFrom(metadataFor("default"));
    const ids = tokenizer.encode("<|im_start|>user\nhi<tool><|im_end|>");

    expect(ids).toEqual([1, byteId(0x75), byteId(0x73), byteId(0x65), byteId(0x72), byteId(0x0a), byteId(0x68), byteId(0x69), 3, 2]);
    expect(tokenizer.decode(ids)).toBe("user\nhi<tool>");
  });

  it("round-trips text with multi-byte characters", async () => {
    const tokenizer = await tokenizerFrom(metadataFor("default"));
    const text = "héllo 😀 wörld € 12";

    expect(tokenizer.decode(tokenizer.encode(text))).toBe(text);
    expect(tokenizer.decode(tokenizer.encode(text))).toBe(
      tokenizer.huggingFaceTokenizer.decode(tokenizer.encode(text), { clean_up_tokenization_spaces: false }),
    );
  });

  it("streams a character split over byte tokens only once it is complete", async () => {
    const tokenizer = await tokenizerFrom(metadataFor("default"));
    const emoji = [0xf0, 0x9f, 0x98, 0x80].map(byteId);
    const euro = [0xe2, 0x82, 0xac].map(byteId);

    expect(streamPieces(tokenizer, [...emoji, byteId(0x6f), byteId(0x6b)])).toEqual({
      pushes: ["", "", "", "😀", "o", "k"],
      flushed: "",
    });
    expect(streamPieces(tokenizer, euro).pushes).toEqual(["", "", "€"]);
    expect(streamPieces(tokenizer, emoji.slice(0, 2))).toEqual({ pushes: ["", ""], flushed: "\uFFFD\uFFFD" });
  });

  it("replaces a byte that cannot start a character at once", async () => {
    const tokenizer = await tokenizerFrom(metadataFor("default"));

    expect(streamPieces(tokenizer, [byteId(0x80), byteId(0x41)]).pushes).toEqual(["\uFFFD", "A"]);
    expect(tokenizer.decode([byteId(0xe2), byteId(0x41)])).toBe("\uFFFDA");
  });
});

describe("chat templates", () => {
  const chatMl =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}" +
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
  const vocabulary = sentencePieceVocabulary(tinyPieces);

  it("renders a ChatML template and detects BOS from its first token", async () => {
    const tokenizer = await tokenizerFrom([
      ...sentencePieceMetadata({
        tokens: [...vocabulary.tokens, "<|im_start|>", "<|im_end|>"],
        scores: [...vocabulary.scores, 0, 0],
        types: [...vocabulary.types, tokenType.control, tokenType.control],
      }).filter(([key]) => key !== "tokenizer.ggml.bos_token_id"),
      ["tokenizer.ggml.bos_token_id", u32(vocabulary.tokens.length)],
      ["tokenizer.chat_template", str(chatMl)],
    ]);
    const rendered = tokenizer.applyChatTemplate?.([{ role: "user", content: "Hi" }], { addGenerationPrompt: true });

    expect(rendered).toBe("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    expect(tokenizer.chatTemplateAddsBos).toBe(true);
  });

  it("puts exactly one BOS in front of a prompt whose template emits bos_token", async () => {
    const template = "{{ bos_token }}{% for message in messages %}[{{ message['content'] }}]{% endfor %}";
    const tokenizer = await tokenizerFrom([...sentencePieceMetadata(vocabulary), ["tokenizer.chat_template", str(template)]]);
    const rendered = tokenizer.applyChatTemplate!([{ role: "user", content: "a" }]);
    const ids = tokenizer.encode(rendered, { addBos: !tokenizer.chatTemplateAddsBos });

    expect(rendered).toBe("<s>[a]");
    expect(tokenizer.chatTemplateAddsBos).toBe(true);
    expect(ids.filter((token) => token === 1)).toHaveLength(1);
    expect(ids[0]).toBe(1);
  });

  it("supports title() and strip() like Python Jinja", async () => {
    const template = "{% for m in messages %}{{ m['role'].title() }}: {{ m['content'].strip() }}\n{% endfor %}";
    const tokenizer = await tokenizerFrom([...sentencePieceMetadata(vocabulary), ["tokenizer.chat_template", str(template)]]);

    expect(tokenizer.applyChatTemplate!([{ role: "user", content: "  hi  " }])).toBe("User: hi\n");
    expect(tokenizer.chatTemplateAddsBos).toBe(false);
  });

  it("reports raise_exception as an argument error carrying the template's message", async () => {
    const template =
      "{% for m in messages %}{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}" +
      "{{ raise_exception('Conversation roles must alternate user/assistant') }}{% endif %}{{ m['content'] }}{% endfor %}";
    const tokenizer = await tokenizerFrom([...sentencePieceMetadata(vocabulary), ["tokenizer.chat_template", str(template)]]);
    let error: unknown;
    try {
      tokenizer.applyChatTemplate!([
        { role: "user", content: "a" },
        { role: "user", content: "b" },
      ]);
    } catch (caughtError) {
      error = caughtError;
    }

    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toContain("Conversation roles must alternate");
  });

  it("reports a template that does not parse when it is used", async () => {
    const tokenizer = await tokenizerFrom([
      ...sentencePieceMetadata(vocabulary),
      ["tokenizer.chat_template", str("{% for m in messages %}")],
    ]);

    expect(() => tokenizer.applyChatTemplate!([{ role: "user", content: "a" }])).toThrow(InvalidTokenizerError);
  });

  it("has no applyChatTemplate without a template", async () => {
    const tokenizer = await tokenizerFrom(sentencePieceMetadata(vocabulary));

    expect(tokenizer.applyChatTemplate).toBeUndefined();
    expect(tokenizer.chatTemplateAddsBos).toBe(false);
  });
});
