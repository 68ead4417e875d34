import { InvalidArgumentError, type ChatMessage, type EncodeOptions, type Tokenizer } from "@elitekv/core";
import { describe, expect, it } from "vitest";

import { buildPromptIds } from "../src/generation/build-prompt-ids.js";

const bosId = 1;

/**
 * Returns a tokenizer that maps each character to its code point and records every encode and render
 * request. With a template, a chat renders as "<user>content</user><assistant>", preceded by "^"
 * (standing for BOS in the text) when `templateAddsBos` is set.
 */
function recordingTokenizer(options: { template: boolean; templateAddsBos?: boolean }) {
  const encodeCalls: Array<{ text: string; options: EncodeOptions | undefined }> = [];
  const renderCalls: Array<{ messages: readonly ChatMessage[]; addGenerationPrompt: boolean | undefined }> = [];
  const tokenizer: Tokenizer = {
    vocabSize: 0x10000,
    bosId,
    eosIds: [2],
    encode(text, encodeOptions) {
      encodeCalls.push({ text, options: encodeOptions });
      const ids = [...text].map((character) => (character === "^" ? bosId : character.codePointAt(0)!));
      return encodeOptions?.addBos === true ? [bosId, ...ids] : ids;
    },
    decode: () => "",
    createDecoderStream: () => ({ push: () => "", flush: () => "" }),
    chatTemplateAddsBos: options.templateAddsBos,
  };
  if (options.template) {
    tokenizer.applyChatTemplate = (messages, renderOptions) => {
      renderCalls.push({ messages, addGenerationPrompt: renderOptions?.addGenerationPrompt });
      const body = messages.map((message) => `<${message.role}>${message.content}</${message.role}>`).join("");
      return `${options.templateAddsBos === true ? "^" : ""}${body}<assistant>`;
    };
  }
  return { tokenizer, encodeCalls, renderCalls };
}

describe("buildPromptIds", () => {
  it("adds BOS to a plain prompt", () => {
    const { tokenizer, encodeCalls } = recordingTokenizer({ template: false });
    const ids = buildPromptIds(tokenizer, { prompt: "hi", chat: false, modelPath: "model.bin" });
    expect(ids).toEqual([bosId, 0x68, 0x69]);
    expect(encodeCalls).toEqual([{ text: "hi", options: { addBos: true } }]);
  });

  it("renders one user message with a generation prompt", () => {
    const { tokenizer, encodeCalls, renderCalls } = recordingTokenizer({ template: true, templateAddsBos: false });
    buildPromptIds(tokenizer, { prompt: "hi", chat: true, modelPath: "model.gguf" });
    expect(renderCalls).toEqual([{ messages: [{ role: "user", content: "hi" }], addGenerationPrompt: true }]);
    expect(encodeCalls).toEqual([{ text: "<user>hi</user><assistant>", options: { addBos: true } }]);
  });

  it("keeps one BOS when the template emits it", () => {
    const { tokenizer, encodeCalls } = recordingTokenizer({ template: true, templateAddsBos: true });
    const ids = buildPromptIds(tokenizer, { prompt: "hi", chat: true, modelPath: "model.gguf" });
    expect(encodeCalls[0].options).toEqual({ addBos: false });
    expect(ids.filter((id) => id === bosId)).toEqual([bosId]);
    expect(ids[0]).toBe(bosId);
  });

  it("rejects --chat without a template", () => {
    const { tokenizer } = recordingTokenizer({ template: false });
    const build = () => buildPromptIds(tokenizer, { prompt: "hi", chat: true, modelPath: "model.bin" });
    expect(build).toThrow(InvalidArgumentError);
    expect(build).toThrow("model.bin has no chat template; run without --chat");
  });
});
