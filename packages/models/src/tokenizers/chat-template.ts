// Chat templates from tokenizer_config.json, rendered with @huggingface/jinja 0.5.13. The context has
// what transformers' apply_chat_template passes: messages, the special token strings, add_generation_prompt
// and raise_exception.
import { Template } from "@huggingface/jinja";

import { InvalidArgumentError, InvalidTokenizerError, type ChatMessage } from "@elitekv/core";

/** Special token strings a template may reference; a missing token renders as "". */
export interface ChatTemplateTokens {
  bos_token?: string;
  eos_token?: string;
  unk_token?: string;
  pad_token?: string;
}

/** Raised by a template's raise_exception; carries the template's own message. */
class TemplateRaisedError extends Error {}

/**
 * @huggingface/jinja declares its own raise_exception (a plain Error, indistinguishable from a
 * template bug) and refuses a second declaration from the render context. A leading `set` statement
 * rebinds the name to ours instead. Its newline is removed by trim_blocks, so the template's first
 * line still starts a line, as lstrip_blocks expects.
 */
const raiseHookName = "elitekv_raise_exception";
const raiseHookPrefix = `{% set raise_exception = ${raiseHookName} %}\n`;

export class ChatTemplate {
  readonly source: string;
  private readonly template: Template;
  private readonly tokens: Required<ChatTemplateTokens>;
  private readonly file: string;

  /** Parses `source`; a syntax error raises InvalidTokenizerError naming `file`. */
  constructor(source: string, tokens: ChatTemplateTokens, file: string) {
    this.source = source;
    this.file = file;
    this.tokens = {
      bos_token: tokens.bos_token ?? "",
      eos_token: tokens.eos_token ?? "",
      unk_token: tokens.unk_token ?? "",
      pad_token: tokens.pad_token ?? "",
    };
    try {
      this.template = new Template(raiseHookPrefix + source);
    } catch (error) {
      throw new InvalidTokenizerError(`chat template does not parse: ${(error as Error).message}`, {
        file,
        field: "chat_template",
        cause: error,
      });
    }
  }

  /**
   * Renders the prompt for `messages`. A template that calls raise_exception (for example because the
   * roles do not alternate) raises InvalidArgumentError with the template's message, so that servers
   * answer 400; any other failure raises InvalidTokenizerError.
   */
  render(messages: readonly ChatMessage[], options: { addGenerationPrompt?: boolean } = {}): string {
    const context = {
      ...this.tokens,
      messages: messages.map((message) => ({ ...message })),
      add_generation_prompt: options.addGenerationPrompt ?? false,
      [raiseHookName]: (message: unknown) => {
        throw new TemplateRaisedError(String(message));
      },
    };

    try {
      return this.template.render(context);
    } catch (error) {
      if (error instanceof TemplateRaisedError) {
        throw new InvalidArgumentError(`chat template rejected the messages: ${error.message}`, {
          field: "messages",
          cause: error,
        });
      }
      throw new InvalidTokenizerError(`chat template failed to render: ${(error as Error).message}`, {
        file: this.file,
        field: "chat_template",
        cause: error,
      });
    }
  }

  /**
   * Returns true when a rendered prompt starts with the BOS string, so encoding must not add another.
   * Decided from one probe render with a single user message. When a template rejects that probe,
   * the result is whether its source prints bos_token at all.
   */
  startsWithBos(): boolean {
    const bos = this.tokens.bos_token;
    if (bos === "") return false;
    try {
      return this.render([{ role: "user", content: "Hello" }], { addGenerationPrompt: true }).startsWith(bos);
    } catch {
      return /\{\{-?\s*bos_token/.test(this.source);
    }
  }
}

/**
 * Picks the template text from a tokenizer_config.json `chat_template` value: a string, or a list of
 * {name, template} entries of which "default" is used. Returns undefined when there is none.
 */
export function selectChatTemplate(value: unknown, file: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return value;
  if (Array.isArray(value)) {
    const named = value.filter(
      (entry): entry is { name: string; template: string } =>
        typeof entry === "object" && entry !== null && typeof entry.name === "string" && typeof entry.template === "string",
    );
    return named.find((entry) => entry.name === "default")?.template;
  }
  throw new InvalidTokenizerError("chat_template must be a string or a list of {name, template} objects", {
    file,
    field: "chat_template",
  });
}
